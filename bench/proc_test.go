package main

import (
	"slices"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in   string
		want []int // nil: refused
	}{
		{"0", []int{0}},
		{"0-1", []int{0, 1}},
		{"0-3,6,8-9", []int{0, 1, 2, 3, 6, 8, 9}},
		{"", nil},
		{"3-1", nil},
		{"0,x", nil},
		{"0-", nil},
	}
	for _, tt := range tests {
		got, ok := parseCPUList(tt.in)
		if ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
		}
	}
}
