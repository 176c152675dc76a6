package rules

import (
	"math"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/types"
)

// fexpr is an expression turned into Go closures: a is its value as the
// VM would return it; b is set when the value is statically a bool, f when
// it is statically a number (f is then the number as float64, for
// comparisons).
type fexpr struct {
	a func(*runner) any
	b func(*runner) bool
	f func(*runner) float64
	// isInt: an integer literal (two are compared as ints by the VM, not
	// as floats: left to it)
	isInt bool
	// n, when set, is what a count's value makes of the result without
	// boxing it: its number and whether it is one (toFloat of a non-string)
	n func(*runner) (float64, bool)
}

// fastExpr returns a Go function computing src, for the per-event
// programs (when, let, group_by, a kind's value), when src is built only of
// what fastNode knows: plain reads (simpleRead's), nil, booleans, numbers
// and strings, str/num/isnum, seconds of a duration parameter, !, && and ||
// over booleans, comparisons of two numbers, and ?: over a boolean. These
// cannot fail on any input and compute what the VM computes; anything else
// (or a name env does not know) returns nil and the program runs on the VM.
// src has been compiled (and type checked) already.
func fastExpr(src string, env types.Map, params map[string]any) *fexpr {
	root := parsed(src)
	if root == nil {
		return nil
	}
	return fastNode(root, env, params)
}

func boolExpr(b func(*runner) bool) *fexpr {
	return &fexpr{b: b, a: func(r *runner) any { return b(r) }}
}

func floatExpr(f func(*runner) float64) *fexpr {
	return &fexpr{f: f, a: func(r *runner) any { return f(r) }, n: func(r *runner) (float64, bool) {
		x := f(r)
		return x, !math.IsNaN(x)
	}}
}

func fastNode(n ast.Node, env types.Map, params map[string]any) *fexpr {
	switch x := n.(type) {
	case *ast.NilNode:
		return &fexpr{a: func(*runner) any { return nil }, n: func(*runner) (float64, bool) { return 0, false }}
	case *ast.BoolNode:
		v := x.Value
		return boolExpr(func(*runner) bool { return v })
	case *ast.FloatNode:
		v := x.Value
		return floatExpr(func(*runner) float64 { return v })
	case *ast.IntegerNode: // an int to the VM; compared with a float as a float
		v, f := any(x.Value), float64(x.Value)
		return &fexpr{a: func(*runner) any { return v }, f: func(*runner) float64 { return f }, isInt: true,
			n: func(*runner) (float64, bool) { return f, true }}
	case *ast.StringNode:
		v := any(x.Value)
		return &fexpr{a: func(*runner) any { return v }}
	case *ast.IdentifierNode, *ast.MemberNode:
		if read, _ := plainRead(n, env, params); read != nil {
			return &fexpr{a: read}
		}
	case *ast.CallNode:
		return fastCall(x, env, params)
	case *ast.UnaryNode:
		if x.Operator != "!" && x.Operator != "not" {
			return nil
		}
		if e := fastNode(x.Node, env, params); e != nil && e.b != nil {
			b := e.b
			return boolExpr(func(r *runner) bool { return !b(r) })
		}
	case *ast.BinaryNode:
		l, r := fastNode(x.Left, env, params), fastNode(x.Right, env, params)
		if l == nil || r == nil {
			return nil
		}
		return fastBinary(x.Operator, l, r)
	case *ast.ConditionalNode:
		c, e1, e2 := fastNode(x.Cond, env, params), fastNode(x.Exp1, env, params), fastNode(x.Exp2, env, params)
		if c == nil || c.b == nil || e1 == nil || e2 == nil {
			return nil
		}
		cb, a1, a2 := c.b, e1.a, e2.a
		e := &fexpr{a: func(r *runner) any {
			if cb(r) {
				return a1(r)
			}
			return a2(r)
		}}
		if n1, n2 := e1.n, e2.n; n1 != nil && n2 != nil {
			e.n = func(r *runner) (float64, bool) {
				if cb(r) {
					return n1(r)
				}
				return n2(r)
			}
		}
		return e
	}
	return nil
}

func fastCall(x *ast.CallNode, env types.Map, params map[string]any) *fexpr {
	id, ok := x.Callee.(*ast.IdentifierNode)
	if !ok || len(x.Arguments) != 1 {
		return nil
	}
	if id.Value == "seconds" { // of a duration parameter: a constant
		m, ok := x.Arguments[0].(*ast.MemberNode)
		if !ok || m.Optional {
			return nil
		}
		base, ok1 := m.Node.(*ast.IdentifierNode)
		prop, ok2 := m.Property.(*ast.StringNode)
		pt, _ := env[varParams].(types.Map)
		if !ok1 || !ok2 || base.Value != varParams || pt[prop.Value] == nil || !pt[prop.Value].Equal(durationType) {
			return nil
		}
		d, ok := params[prop.Value].(time.Duration)
		if !ok {
			return nil
		}
		s := d.Seconds()
		return floatExpr(func(*runner) float64 { return s })
	}
	arg := fastNode(x.Arguments[0], env, params)
	if arg == nil {
		return nil
	}
	a := arg.a
	switch id.Value {
	case "num":
		return floatExpr(func(r *runner) float64 { f, _ := toFloat(a(r)); return f })
	case "isnum":
		return boolExpr(func(r *runner) bool { _, ok := toFloat(a(r)); return ok })
	case "str":
		return &fexpr{a: func(r *runner) any {
			v := a(r)
			if _, ok := v.(string); ok {
				return v
			}
			return text(v)
		}}
	}
	return nil
}

func fastBinary(op string, l, r *fexpr) *fexpr {
	switch op {
	case "||", "or":
		if l.b != nil && r.b != nil {
			lb, rb := l.b, r.b
			return boolExpr(func(x *runner) bool { return lb(x) || rb(x) })
		}
	case "&&", "and":
		if l.b != nil && r.b != nil {
			lb, rb := l.b, r.b
			return boolExpr(func(x *runner) bool { return lb(x) && rb(x) })
		}
	case ">", "<", ">=", "<=", "==", "!=":
		if l.f == nil || r.f == nil || (l.isInt && r.isInt) {
			return nil
		}
		lf, rf := l.f, r.f
		switch op {
		case ">":
			return boolExpr(func(x *runner) bool { return lf(x) > rf(x) })
		case "<":
			return boolExpr(func(x *runner) bool { return lf(x) < rf(x) })
		case ">=":
			return boolExpr(func(x *runner) bool { return lf(x) >= rf(x) })
		case "<=":
			return boolExpr(func(x *runner) bool { return lf(x) <= rf(x) })
		case "==":
			return boolExpr(func(x *runner) bool { return lf(x) == rf(x) })
		case "!=":
			return boolExpr(func(x *runner) bool { return lf(x) != rf(x) })
		}
	}
	return nil
}
