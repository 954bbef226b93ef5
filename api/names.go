package api

import (
	"golang.org/x/text/secure/precis"

	"parley/model"
)

// enforceName applies the PRECIS username profile (RFC 8265, case
// preserved) to a username or channel name before it is validated, stored
// or looked up: fullwidth and halfwidth forms become their plain letters and
// the result is NFC, so that names which look the same are the same name
// (and clash, since names are unique regardless of case); invisible,
// control, symbol and compatibility characters are refused. Returns EInvalid
// naming field.
func enforceName(field, s string) (string, error) {
	out, err := precis.UsernameCasePreserved.String(s)
	if err != nil {
		return "", model.FieldError(field, "must be letters and digits (with '_', '.' or '-'), without invisible, symbol or compatibility characters")
	}
	return out, nil
}
