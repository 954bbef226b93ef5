package model

import "unicode"

// bidiControl reports whether r is a Unicode bidirectional control: the
// embeddings and overrides (U+202A–U+202E), the isolates (U+2066–U+2069)
// and the marks (U+200E, U+200F, U+061C). In a name they can make one name
// look like another, or reverse the text shown after it.
func bidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c
}

// bidiOverride reports whether r is an embedding or override (U+202A–U+202E):
// legacy controls that reorder everything after them up to the end of the
// paragraph. Message bodies refuse them, but keep the isolates and marks that
// right-to-left writing needs.
func bidiOverride(r rune) bool { return r >= 0x202a && r <= 0x202e }

// hasBidiControl reports whether s holds a bidirectional control.
func hasBidiControl(s string) bool {
	for _, r := range s {
		if bidiControl(r) {
			return true
		}
	}
	return false
}

// hasBidiOverride reports whether s holds a bidirectional embedding or
// override.
func hasBidiOverride(s string) bool {
	for _, r := range s {
		if bidiOverride(r) {
			return true
		}
	}
	return false
}

// scriptGroups are the scripts a name's letters may mix: Japanese is
// written in Han, Hiragana and Katakana together, Korean in Hangul and
// Han; any other script stands alone.
var scriptGroups = [][]*unicode.RangeTable{
	{unicode.Latin}, {unicode.Cyrillic}, {unicode.Greek}, {unicode.Armenian}, {unicode.Georgian},
	{unicode.Hebrew}, {unicode.Arabic}, {unicode.Thai}, {unicode.Devanagari}, {unicode.Bengali},
	{unicode.Tamil}, {unicode.Ethiopic},
	{unicode.Han, unicode.Hiragana, unicode.Katakana},
	{unicode.Hangul, unicode.Han},
}

// singleScript reports whether the letters of s all come from one script
// (or one of scriptGroups), so that a name cannot mix look-alike letters of
// several, as "pаypal" with a Cyrillic а does. Digits, '_' and '-' belong to
// no script. A letter of a script not in scriptGroups is refused.
func singleScript(s string) bool {
	var candidates []int // indexes of the groups every letter so far is in
	first := true
	for _, r := range s {
		if !unicode.IsLetter(r) {
			continue
		}
		var in []int
		for i, g := range scriptGroups {
			if (first || contains(candidates, i)) && unicode.In(r, g...) {
				in = append(in, i)
			}
		}
		if len(in) == 0 {
			return false
		}
		candidates, first = in, false
	}
	return true
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
