package api_test

import (
	"testing"
	"time"

	"parley/api"
)

func TestRate_UnmarshalText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    api.Rate
		wantErr bool
	}{
		{"10/1m", api.Rate{N: 10, Per: time.Minute}, false},
		{" 5 / 30s ", api.Rate{N: 5, Per: 30 * time.Second}, false},
		{"100/1h", api.Rate{N: 100, Per: time.Hour}, false},
		{"10", api.Rate{}, true},
		{"0/1m", api.Rate{}, true},
		{"x/1m", api.Rate{}, true},
		{"10/0s", api.Rate{}, true},
		{"10/minute", api.Rate{}, true},
	}
	for _, tt := range tests {
		var got api.Rate
		err := got.UnmarshalText([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("UnmarshalText(%q): got %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	for _, tt := range []struct {
		r    api.Rate
		want string
	}{
		{api.Rate{N: 10, Per: time.Minute}, "10/1m"},
		{api.Rate{N: 20, Per: 2 * time.Second}, "20/2s"},
		{api.Rate{N: 100, Per: time.Hour}, "100/1h"},
		{api.Rate{N: 3, Per: 90 * time.Second}, "3/1m30s"},
	} {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("String of %#v: got %q, want %q", tt.r, got, tt.want)
		}
	}
}
