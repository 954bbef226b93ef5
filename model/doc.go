// Package model holds Parley's domain types, their validation rules, the
// error type every layer speaks, and the limits the API enforces.
//
// It imports only the standard library; every other package of Parley may
// import it, and it must import none of them.
package model
