package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"parley/model"
)

// decode reads the request body into a T. It returns EUnsupportedMedia
// unless the body is sent as application/json, ETooLarge past
// model.MaxRequestBytes, EMalformed unless the body is one UTF-8 JSON object
// with no unknown fields, and EInvalid naming the field whose value has the
// wrong type.
func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return v, model.Errorf(model.EUnsupportedMedia, "The body must be sent as application/json.")
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, model.MaxRequestBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return v, model.Errorf(model.ETooLarge, "The body must be at most %d KiB.", model.MaxRequestBytes>>10)
		}
		return v, model.Errorf(model.EMalformed, "The body could not be read.")
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(raw) {
		return v, model.Errorf(model.EMalformed, "The body must be UTF-8.")
	}
	if trimmed := bytes.TrimLeft(raw, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return v, model.Errorf(model.EMalformed, "The body must be a JSON object.")
	}
	if key, dup := duplicateKey(raw); dup {
		return v, model.Errorf(model.EMalformed, "The body has the field %q more than once (names are matched regardless of case).", key)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return v, model.Errorf(model.EMalformed, "The body must hold one JSON object and nothing after it.")
	}
	return v, nil
}

// duplicateKey reports a key that appears twice in one JSON object of raw,
// comparing regardless of case. encoding/json matches field names regardless
// of case and keeps the last of duplicates, so {"body":"a","BODY":"b"} would
// otherwise be read as whichever came last, while a proxy or log that reads
// the first sees another message. Syntax errors are left to the decoder.
func duplicateKey(raw []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	type frame struct {
		object bool
		keys   map[string]struct{}
		key    bool // the next token in this object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			k := foldKey(tok.(string))
			if _, seen := top.keys[k]; seen {
				return tok.(string), true
			}
			top.keys[k] = struct{}{}
			top.key = false
			continue
		}
		if top != nil && top.object {
			top.key = true // this token is a value; a key follows
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]struct{}{}, key: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			return "", false
		}
	}
}

// foldKey maps s to one representative of all the strings that equal it
// regardless of case, as encoding/json matches field names: each rune
// becomes the least of its case-folding orbit (so "ſ" and "s" fold alike).
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}

// decodeError explains why encoding/json rejected a body.
func decodeError(err error) error {
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && e.Field != "" {
		return model.FieldError(e.Field, "must be "+jsonType(e.Type))
	}
	// encoding/json has no error type for an unknown field, only this text.
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return model.Errorf(model.EMalformed, "The body has an unknown field %s.", field)
	}
	return model.Errorf(model.EMalformed, "The body is not valid JSON.")
}

// jsonType names the JSON type a Go type is decoded from, with an article.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Int64:
		return "an integer"
	}
	return "a " + t.Kind().String()
}

// encode writes v as a JSON response with status. It marshals before writing
// anything, so a failure can still become a 500; once the header is sent, a
// failed write means the client has gone and is not reported.
//
// The JSON is built in a pooled buffer and sent with its Content-Length, so
// that the response goes out in one piece rather than chunked.
func encode(w http.ResponseWriter, status int, v any) error {
	buf := encodeBuffers.Get().(*bytes.Buffer)
	defer putEncodeBuffer(buf)
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(v); err != nil { // Marshal's bytes and a newline
		return fmt.Errorf("encode response: %w", err)
	}
	writeJSON(w, status, buf.Bytes())
	return nil
}

// writeJSON sends b, a JSON value and a newline, with status.
func writeJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var encodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer is the largest buffer that encode puts back in the pool,
// so that one huge response does not stay in memory for good.
const maxPooledBuffer = 64 << 10

func putEncodeBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBuffer {
		encodeBuffers.Put(buf)
	}
}
