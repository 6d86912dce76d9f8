// Package region defines the regions an Edgeway edge can serve: their
// stable two-letter codes and display names.
package region

import (
	"fmt"
	"strings"
)

// Code is a region's stable two-letter code, as used in flags, config
// files, the API and the wire protocol.
type Code string

// The regions, in display order. Codes are stable and never renamed.
const (
	US Code = "us"
	EU Code = "eu"
	AP Code = "ap"
	AU Code = "au"
	SA Code = "sa"
	JP Code = "jp"
	IN Code = "in"
)

// Auto is the pseudo region an agent uses to ask for the region with the
// lowest measured latency. It is never a valid edge region.
const Auto = "auto"

// Region describes one region.
type Region struct {
	Code Code
	Name string
}

var all = []Region{
	{US, "United States (Ohio)"},
	{EU, "Europe (Frankfurt)"},
	{AP, "Asia/Pacific (Singapore)"},
	{AU, "Australia (Sydney)"},
	{SA, "South America (Sao Paulo)"},
	{JP, "Japan (Tokyo)"},
	{IN, "India (Mumbai)"},
}

// All returns every region in display order. The caller may modify the
// returned slice.
func All() []Region {
	out := make([]Region, len(all))
	copy(out, all)
	return out
}

// Codes returns every region code in display order.
func Codes() []Code {
	out := make([]Code, len(all))
	for i, r := range all {
		out[i] = r.Code
	}
	return out
}

// Parse returns the region code for s, ignoring case and surrounding
// space. It fails with an error listing the valid codes when s names no
// region.
func Parse(s string) (Code, error) {
	c := Code(strings.ToLower(strings.TrimSpace(s)))
	if c.Valid() {
		return c, nil
	}
	if s == "" {
		return "", fmt.Errorf("region is empty; valid regions: %s", codeList())
	}
	return "", fmt.Errorf("unknown region %q; valid regions: %s", s, codeList())
}

// Valid reports whether c is one of the known region codes.
func (c Code) Valid() bool {
	for _, r := range all {
		if r.Code == c {
			return true
		}
	}
	return false
}

// Name returns the region's display name, such as "Europe (Frankfurt)",
// or the empty string for an unknown code.
func (c Code) Name() string {
	for _, r := range all {
		if r.Code == c {
			return r.Name
		}
	}
	return ""
}

// String returns the code itself.
func (c Code) String() string { return string(c) }

func codeList() string {
	parts := make([]string, len(all))
	for i, r := range all {
		parts[i] = string(r.Code)
	}
	return strings.Join(parts, ", ")
}
