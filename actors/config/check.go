package config

import (
	"fmt"
	"time"
)

// Checker collects the problems each section's Validate finds, under that
// section's key path, with the line Decode recorded for the key.
type Checker struct {
	prefix string
	root   *checkerRoot
}

type checkerRoot struct {
	lines    Lines
	problems Problems
	warnings Problems
}

// NewChecker returns a checker knowing the lines of the keys (nil: none).
func NewChecker(lines Lines) *Checker {
	if lines == nil {
		lines = Lines{}
	}
	return &Checker{root: &checkerRoot{lines: lines}}
}

// At returns a checker for the section at key below this one.
func (c *Checker) At(key string) *Checker {
	return &Checker{prefix: join(c.prefix, key), root: c.root}
}

// Bad records that field has value v, which is wrong because of why.
func (c *Checker) Bad(field string, v any, why string) {
	p := join(c.prefix, field)
	if s, ok := v.(string); ok && s == "" {
		v = `""`
	}
	c.root.problems = append(c.root.problems, &Problem{Path: p, Line: c.root.lines[p], Value: v, Why: why})
}

// Warn records a setting that works but is probably not what the operator
// wants; the daemon logs it at start and --check-config prints it.
func (c *Checker) Warn(field string, v any, why string) {
	p := join(c.prefix, field)
	c.root.warnings = append(c.root.warnings, &Problem{Path: p, Line: c.root.lines[p], Value: v, Why: why})
}

// Warnings is what Warn recorded.
func (c *Checker) Warnings() Problems { return c.root.warnings }

// Add records problems found elsewhere (they keep their own paths).
func (c *Checker) Add(ps ...*Problem) { c.root.problems = append(c.root.problems, ps...) }

// Positive checks that a duration is > 0.
func (c *Checker) Positive(field string, d time.Duration) {
	if d <= 0 {
		c.Bad(field, d, "must be a positive duration")
	}
}

// NonNegative checks that a duration is >= 0.
func (c *Checker) NonNegative(field string, d time.Duration, zeroMeans string) {
	if d < 0 {
		c.Bad(field, d, fmt.Sprintf("must be >= 0 (0 %s)", zeroMeans))
	}
}

// AtLeast checks an integer's lower bound.
func (c *Checker) AtLeast(field string, n, min int) {
	if n < min {
		c.Bad(field, n, fmt.Sprintf("must be >= %d", min))
	}
}

// OneOf checks that s is one of the allowed words.
func (c *Checker) OneOf(field, s string, allowed ...string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	c.Bad(field, s, "must be one of "+list(allowed))
}

// NotEmpty checks that s is set.
func (c *Checker) NotEmpty(field, s string) {
	if s == "" {
		c.Bad(field, "", "must not be empty")
	}
}

// Problems is what was found so far.
func (c *Checker) Problems() Problems { return c.root.problems }

// Err is the problems as one error, or nil.
func (c *Checker) Err() error { return c.root.problems.Err() }

func list(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	s := ""
	for i, w := range words[:len(words)-1] {
		if i > 0 {
			s += ", "
		}
		s += w
	}
	return s + " or " + words[len(words)-1]
}
