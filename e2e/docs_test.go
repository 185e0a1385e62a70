package e2e

import (
	"encoding/json"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The documentation checks read the repository's Go sources as syntax (they
// import none of the services, so every module still builds alone): which
// environment variables the programs and tests read, and which error codes
// the gateway answers. Each must be in docs/api.md, and each code in the
// OpenAPI document too. A variable or code read in a way these checks cannot
// follow (not a literal or a constant) fails them: say it plainly instead.

// repoRoot is the repository, seen from this module.
const repoRoot = ".."

// modulePrefix is the import path of the repository's modules: a module is
// the directory named by the next element.
const modulePrefix = "github.com/orderq/orderq/"

// sourceModules are the modules whose sources are read.
var sourceModules = []string{"api-gateway", "worker", "shared", "loadtest", "orderqctl", "e2e"}

// goPkg is one directory's Go files, parsed.
type goPkg struct {
	dir    string // relative to the repository
	fset   *token.FileSet
	files  []*ast.File
	consts map[string]ast.Expr      // package-level constants with a value of their own
	funcs  map[string]*ast.FuncDecl // package-level functions
}

// goRepo is every package of sourceModules.
type goRepo struct {
	fset *token.FileSet
	pkgs map[string]*goPkg // by import path
}

func parseRepo(t *testing.T) *goRepo {
	t.Helper()
	r := &goRepo{fset: token.NewFileSet(), pkgs: map[string]*goPkg{}}
	for _, mod := range sourceModules {
		root := filepath.Join(repoRoot, mod)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if name := d.Name(); path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") {
				return nil
			}
			f, err := parser.ParseFile(r.fset, path, nil, 0)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(repoRoot, filepath.Dir(path))
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			p := r.pkgs[modulePrefix+rel]
			if p == nil {
				p = &goPkg{dir: rel, fset: r.fset, consts: map[string]ast.Expr{}, funcs: map[string]*ast.FuncDecl{}}
				r.pkgs[modulePrefix+rel] = p
			}
			p.files = append(p.files, f)
			for _, decl := range f.Decls {
				switch decl := decl.(type) {
				case *ast.FuncDecl:
					if decl.Recv == nil {
						p.funcs[decl.Name.Name] = decl
					}
				case *ast.GenDecl:
					if decl.Tok != token.CONST {
						continue
					}
					for _, spec := range decl.Specs {
						vs := spec.(*ast.ValueSpec)
						for i, name := range vs.Names {
							if i < len(vs.Values) {
								p.consts[name.Name] = vs.Values[i]
							}
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("parse %s: %v", root, err)
		}
	}
	return r
}

// imported returns the package a file's import name stands for, if it is one
// of the repository's.
func (r *goRepo) imported(f *ast.File, name string) *goPkg {
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		local := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			local = imp.Name.Name
		}
		if local == name {
			return r.pkgs[path]
		}
	}
	return nil
}

// importsStd reports whether a file imports the standard package path as
// name.
func importsStd(f *ast.File, path, name string) bool {
	for _, imp := range f.Imports {
		if p, err := strconv.Unquote(imp.Path.Value); err == nil && p == path {
			return imp.Name == nil && name == path[strings.LastIndex(path, "/")+1:] || imp.Name != nil && imp.Name.Name == name
		}
	}
	return false
}

// strs evaluates e to the strings it can be: a literal, a constant, a
// sum of those, or the values (or keys) of a map literal ranged over. ok is
// false when it is anything else.
func (r *goRepo) strs(p *goPkg, f *ast.File, e ast.Expr) (vals []string, ok bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return nil, false
		}
		s, err := strconv.Unquote(e.Value)
		return []string{s}, err == nil
	case *ast.ParenExpr:
		return r.strs(p, f, e.X)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return nil, false
		}
		xs, okx := r.strs(p, f, e.X)
		ys, oky := r.strs(p, f, e.Y)
		if !okx || !oky {
			return nil, false
		}
		for _, x := range xs {
			for _, y := range ys {
				vals = append(vals, x+y)
			}
		}
		return vals, true
	case *ast.SelectorExpr:
		x, isIdent := e.X.(*ast.Ident)
		if !isIdent {
			return nil, false
		}
		q := r.imported(f, x.Name)
		if q == nil || q.consts[e.Sel.Name] == nil {
			return nil, false
		}
		return r.strs(q, fileOf(q, q.consts[e.Sel.Name]), q.consts[e.Sel.Name])
	case *ast.Ident:
		if e.Obj != nil {
			switch decl := e.Obj.Decl.(type) {
			case *ast.ValueSpec:
				if e.Obj.Kind != ast.Con {
					return nil, false
				}
				for i, n := range decl.Names {
					if n.Name == e.Name && i < len(decl.Values) {
						return r.strs(p, f, decl.Values[i])
					}
				}
				return nil, false
			case *ast.AssignStmt:
				// for key, value := range map[string]string{…}
				if len(decl.Rhs) != 1 {
					return nil, false
				}
				rng, isRange := decl.Rhs[0].(*ast.UnaryExpr)
				if !isRange || rng.Op != token.RANGE {
					return nil, false
				}
				lit, isLit := rng.X.(*ast.CompositeLit)
				if !isLit {
					return nil, false
				}
				value := len(decl.Lhs) == 2 && decl.Lhs[1].(*ast.Ident).Name == e.Name
				for _, elt := range lit.Elts {
					kv, isKV := elt.(*ast.KeyValueExpr)
					if !isKV {
						return nil, false
					}
					part := kv.Key
					if value {
						part = kv.Value
					}
					s, ok := r.strs(p, f, part)
					if !ok {
						return nil, false
					}
					vals = append(vals, s...)
				}
				return vals, true
			}
			return nil, false
		}
		if c := p.consts[e.Name]; c != nil {
			return r.strs(p, fileOf(p, c), c)
		}
	}
	return nil, false
}

// number evaluates e to an integer: a literal, a constant, a product of
// those, or a time or net/http constant.
func (r *goRepo) number(p *goPkg, f *ast.File, e ast.Expr) (int64, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.INT {
			return 0, false
		}
		n, err := strconv.ParseInt(e.Value, 0, 64)
		return n, err == nil
	case *ast.ParenExpr:
		return r.number(p, f, e.X)
	case *ast.BinaryExpr:
		x, okx := r.number(p, f, e.X)
		y, oky := r.number(p, f, e.Y)
		switch {
		case !okx || !oky:
			return 0, false
		case e.Op == token.MUL:
			return x * y, true
		case e.Op == token.SHL:
			return x << y, true
		}
		return 0, false
	case *ast.SelectorExpr:
		x, isIdent := e.X.(*ast.Ident)
		if !isIdent {
			return 0, false
		}
		if importsStd(f, "time", x.Name) {
			n, ok := timeUnits[e.Sel.Name]
			return int64(n), ok
		}
		if importsStd(f, "net/http", x.Name) {
			n, ok := httpStatuses[e.Sel.Name]
			return n, ok
		}
		if q := r.imported(f, x.Name); q != nil && q.consts[e.Sel.Name] != nil {
			return r.number(q, fileOf(q, q.consts[e.Sel.Name]), q.consts[e.Sel.Name])
		}
	case *ast.Ident:
		if e.Obj != nil {
			if vs, ok := e.Obj.Decl.(*ast.ValueSpec); ok && e.Obj.Kind == ast.Con {
				for i, n := range vs.Names {
					if n.Name == e.Name && i < len(vs.Values) {
						return r.number(p, f, vs.Values[i])
					}
				}
			}
			return 0, false
		}
		if c := p.consts[e.Name]; c != nil {
			return r.number(p, fileOf(p, c), c)
		}
	}
	return 0, false
}

var timeUnits = map[string]time.Duration{
	"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond, "Millisecond": time.Millisecond,
	"Second": time.Second, "Minute": time.Minute, "Hour": time.Hour,
}

// httpStatuses are net/http's Status constants, read from its source.
var httpStatuses = map[string]int64{}

func loadHTTPStatuses(t *testing.T) {
	t.Helper()
	if len(httpStatuses) > 0 {
		return
	}
	path := filepath.Join(build.Default.GOROOT, "src", "net", "http", "status.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatalf("read net/http's statuses: %v", err)
	}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
					if n, err := strconv.ParseInt(lit.Value, 10, 64); err == nil {
						httpStatuses[name.Name] = n
					}
				}
			}
		}
	}
	if httpStatuses["StatusNotFound"] != 404 {
		t.Fatalf("read %s: no StatusNotFound", path)
	}
}

// fileOf returns the file of p holding node.
func fileOf(p *goPkg, node ast.Node) *ast.File {
	for _, f := range p.files {
		if f.Pos() <= node.Pos() && node.End() <= f.End() {
			return f
		}
	}
	return nil
}

// paramIndex returns the index of the parameter of fn that e names, or -1.
func paramIndex(fn *ast.FuncDecl, e ast.Expr) int {
	id, ok := e.(*ast.Ident)
	if !ok || fn == nil {
		return -1
	}
	i := 0
	for _, field := range fn.Type.Params.List {
		for _, name := range field.Names {
			if name.Name == id.Name {
				return i
			}
			i++
		}
		if len(field.Names) == 0 {
			i++
		}
	}
	return -1
}

// mentionsParam reports whether e names a parameter of fn.
func mentionsParam(fn *ast.FuncDecl, e ast.Expr) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && paramIndex(fn, id) >= 0 {
			found = true
		}
		return !found
	})
	return found
}

// eachCall calls visit for every call in p's files, with the function it is
// in (nil at package level).
func eachCall(p *goPkg, visit func(f *ast.File, fn *ast.FuncDecl, call *ast.CallExpr)) {
	for _, f := range p.files {
		for _, decl := range f.Decls {
			fn, _ := decl.(*ast.FuncDecl)
			ast.Inspect(decl, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok {
					visit(f, fn, call)
				}
				return true
			})
		}
	}
}

// envUse is a variable read, with its default where config's readers give it.
type envUse struct {
	name string
	at   string
	def  string // "" when none is known
}

// envWrapper is a function that reads the variable its parameter key names.
type envWrapper struct {
	pkg *goPkg
	key int
}

// envReads returns every environment variable the sources read: through
// os.Getenv or os.LookupEnv, a getenv function (a parameter or field of
// that name), or a function of the repository that passes its parameter to
// one of those (config.String, testenv.Require, …).
func envReads(t *testing.T, r *goRepo) []envUse {
	t.Helper()
	wrappers := map[*ast.FuncDecl]envWrapper{}
	// keyArg returns the argument of call that names a variable, if call
	// reads one.
	keyArg := func(p *goPkg, f *ast.File, call *ast.CallExpr) (ast.Expr, *ast.FuncDecl, bool) {
		switch fun := call.Fun.(type) {
		case *ast.Ident:
			if fun.Name == "getenv" && len(call.Args) == 1 {
				return call.Args[0], nil, true
			}
			if fn := p.funcs[fun.Name]; fn != nil {
				if w, ok := wrappers[fn]; ok && w.key < len(call.Args) {
					return call.Args[w.key], fn, true
				}
			}
		case *ast.SelectorExpr:
			if fun.Sel.Name == "getenv" && len(call.Args) == 1 {
				return call.Args[0], nil, true
			}
			x, ok := fun.X.(*ast.Ident)
			if !ok {
				return nil, nil, false
			}
			if importsStd(f, "os", x.Name) && (fun.Sel.Name == "Getenv" || fun.Sel.Name == "LookupEnv") && len(call.Args) == 1 {
				return call.Args[0], nil, true
			}
			if q := r.imported(f, x.Name); q != nil {
				if fn := q.funcs[fun.Sel.Name]; fn != nil {
					if w, ok := wrappers[fn]; ok && w.key < len(call.Args) {
						return call.Args[w.key], fn, true
					}
				}
			}
		}
		return nil, nil, false
	}
	for changed := true; changed; {
		changed = false
		for _, p := range r.pkgs {
			eachCall(p, func(f *ast.File, fn *ast.FuncDecl, call *ast.CallExpr) {
				if fn == nil || fn.Recv != nil {
					return
				}
				if _, known := wrappers[fn]; known {
					return
				}
				if key, _, ok := keyArg(p, f, call); ok {
					if i := paramIndex(fn, key); i >= 0 {
						wrappers[fn] = envWrapper{pkg: p, key: i}
						changed = true
					}
				}
			})
		}
	}
	var uses []envUse
	for _, p := range r.pkgs {
		eachCall(p, func(f *ast.File, fn *ast.FuncDecl, call *ast.CallExpr) {
			key, callee, ok := keyArg(p, f, call)
			if !ok {
				return
			}
			if _, isWrapper := wrappers[fn]; isWrapper && mentionsParam(fn, key) {
				return // the variable is its caller's
			}
			at := r.fset.Position(call.Pos()).String()
			names, ok := r.strs(p, f, key)
			if !ok {
				t.Errorf("%s: cannot tell which environment variable this reads: name it with a string literal or a constant", at)
				return
			}
			def := ""
			if callee != nil && wrappers[callee].pkg.dir == "shared/config" && len(call.Args) > 2 {
				switch callee.Name.Name {
				case "String":
					if s, ok := r.strs(p, f, call.Args[2]); ok && len(s) == 1 {
						def = s[0]
					}
				case "Int":
					if n, ok := r.number(p, f, call.Args[2]); ok {
						def = strconv.FormatInt(n, 10)
					}
				case "Duration":
					if n, ok := r.number(p, f, call.Args[2]); ok {
						def = shortDuration(time.Duration(n))
					}
				}
			}
			for _, name := range names {
				uses = append(uses, envUse{name: name, at: at, def: def})
			}
		})
	}
	return uses
}

// shortDuration writes d as the docs do: 15m, not 15m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// errorUse is an error code the gateway answers, with its status.
type errorUse struct {
	code   string
	status int64
	at     string
}

// httpapiDir is the gateway's package that turns errors into answers.
const httpapiDir = "api-gateway/internal/httpapi"

// errorCodes returns every code the gateway's httpapi package answers: each
// newError(status, code, …) outside its tests, and, for a function that
// passes its parameters into the code (notFound(what) makes what+"_not_found"),
// each call of it.
func errorCodes(t *testing.T, r *goRepo) []errorUse {
	t.Helper()
	loadHTTPStatuses(t)
	p := r.pkgs[modulePrefix+httpapiDir]
	if p == nil {
		t.Fatalf("no package %s", httpapiDir)
	}
	src := &goPkg{dir: p.dir, fset: p.fset, consts: p.consts, funcs: map[string]*ast.FuncDecl{}}
	for _, f := range p.files {
		if !strings.HasSuffix(r.fset.Position(f.Pos()).Filename, "_test.go") {
			src.files = append(src.files, f)
		}
	}
	for name, fn := range p.funcs {
		if !strings.HasSuffix(r.fset.Position(fn.Pos()).Filename, "_test.go") {
			src.funcs[name] = fn
		}
	}
	ctor := src.funcs["newError"]
	if ctor == nil || paramIndex(ctor, ast.NewIdent("status")) != 0 || paramIndex(ctor, ast.NewIdent("code")) != 1 {
		t.Fatalf("%s: want newError(status int, code string, …): this test reads its calls", httpapiDir)
	}
	// An apiError is made by newError only, and its code never changed.
	for _, f := range src.files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if id, ok := n.Type.(*ast.Ident); ok && id.Name == "apiError" && !(ctor.Pos() <= n.Pos() && n.End() <= ctor.End()) {
					t.Errorf("%s: make an apiError with newError", r.fset.Position(n.Pos()))
				}
			case *ast.AssignStmt:
				for _, lhs := range n.Lhs {
					if sel, ok := lhs.(*ast.SelectorExpr); ok && (sel.Sel.Name == "code" || sel.Sel.Name == "status") {
						t.Errorf("%s: an error's %s is set by newError only", r.fset.Position(n.Pos()), sel.Sel.Name)
					}
				}
			}
			return true
		})
	}

	// value is what an argument evaluates to at a call: known strings or
	// number, or an expression in the parameters of the caller.
	type value struct {
		strs   []string
		num    int64
		hasNum bool
	}
	var eval func(f *ast.File, e ast.Expr, env map[string]value) value
	eval = func(f *ast.File, e ast.Expr, env map[string]value) value {
		if id, ok := e.(*ast.Ident); ok {
			if v, ok := env[id.Name]; ok {
				return v
			}
		}
		if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.ADD {
			x, y := eval(f, b.X, env), eval(f, b.Y, env)
			var out value
			for _, xs := range x.strs {
				for _, ys := range y.strs {
					out.strs = append(out.strs, xs+ys)
				}
			}
			return out
		}
		var v value
		v.strs, _ = r.strs(src, f, e)
		v.num, v.hasNum = r.number(src, f, e)
		return v
	}
	// wrappers are the functions whose parameters reach newError's status
	// or code.
	wrappers := map[string]bool{}
	relevant := func(call *ast.CallExpr) []ast.Expr {
		id, ok := call.Fun.(*ast.Ident)
		switch {
		case !ok:
			return nil
		case id.Name == "newError" && len(call.Args) >= 2:
			return call.Args[:2]
		case wrappers[id.Name]:
			return call.Args
		}
		return nil
	}
	for changed := true; changed; {
		changed = false
		eachCall(src, func(f *ast.File, fn *ast.FuncDecl, call *ast.CallExpr) {
			if fn == nil || fn.Recv != nil || fn == ctor || wrappers[fn.Name.Name] {
				return
			}
			for _, arg := range relevant(call) {
				if mentionsParam(fn, arg) {
					wrappers[fn.Name.Name] = true
					changed = true
					return
				}
			}
		})
	}
	var uses []errorUse
	var expand func(f *ast.File, call *ast.CallExpr, env map[string]value, at string, depth int)
	expand = func(f *ast.File, call *ast.CallExpr, env map[string]value, at string, depth int) {
		id := call.Fun.(*ast.Ident)
		if id.Name == "newError" {
			code, status := eval(f, call.Args[1], env), eval(f, call.Args[0], env)
			if len(code.strs) == 0 || !status.hasNum {
				t.Errorf("%s: cannot tell the error's code and status: give newError literals or constants", at)
				return
			}
			for _, c := range code.strs {
				uses = append(uses, errorUse{code: c, status: status.num, at: at})
			}
			return
		}
		fn := src.funcs[id.Name]
		if depth > 8 {
			t.Errorf("%s: wrappers of newError nest too deep", at)
			return
		}
		inner := map[string]value{}
		i := 0
		for _, field := range fn.Type.Params.List {
			for _, name := range field.Names {
				if i < len(call.Args) {
					inner[name.Name] = eval(f, call.Args[i], env)
				}
				i++
			}
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok && relevant(c) != nil {
				expand(fileOf(src, fn), c, inner, at, depth+1)
			}
			return true
		})
	}
	eachCall(src, func(f *ast.File, fn *ast.FuncDecl, call *ast.CallExpr) {
		if relevant(call) == nil || fn == ctor {
			return
		}
		if fn != nil && wrappers[fn.Name.Name] && slices.ContainsFunc(relevant(call), func(e ast.Expr) bool { return mentionsParam(fn, e) }) {
			return // the code is its caller's
		}
		expand(f, call, nil, r.fset.Position(call.Pos()).String(), 0)
	})
	return uses
}

// docRows returns the rows of docs/api.md's tables by the name in their
// first cell (`NAME`), each row's text; under a heading when heading is set.
func docRows(t *testing.T, heading string) map[string][]string {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(repoRoot, "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([^`]+)` \\|")
	rows := map[string][]string{}
	in := heading == ""
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "## ") {
			in = heading == "" || strings.TrimSpace(strings.TrimPrefix(line, "## ")) == heading
		}
		if m := row.FindStringSubmatch(line); in && m != nil {
			rows[m[1]] = append(rows[m[1]], line)
		}
	}
	return rows
}

// TestDocsNameEveryEnvironmentVariable: every environment variable the
// programs and tests read has a row in docs/api.md, and where the code gives
// a default (config.String, Int, Duration) the row says it.
func TestDocsNameEveryEnvironmentVariable(t *testing.T) {
	t.Parallel()
	uses := envReads(t, parseRepo(t))
	rows := docRows(t, "Environment variables")
	seen := map[string]bool{}
	for _, u := range uses {
		seen[u.name] = true
		rs := rows[u.name]
		if len(rs) == 0 {
			t.Errorf("%s reads %s, which docs/api.md does not list", u.at, u.name)
			continue
		}
		if u.def != "" && !slices.ContainsFunc(rs, func(r string) bool { return strings.Contains(r, "`"+u.def+"`") }) {
			t.Errorf("%s reads %s with default %q, which no row of docs/api.md gives:\n%s", u.at, u.name, u.def, strings.Join(rs, ""))
		}
	}
	// The check reads what it should: the plain ones, and the ones behind
	// a wrapper, a constant and a map.
	for _, name := range []string{"AMQP_URL", "PAYMENT_TIMEOUT", "CUSTOMER_JWT_SECRET", "ORDERQ_URL", "TEST_MYSQL_DSN", "ORDERQ_BIN"} {
		if !seen[name] {
			t.Errorf("found no read of %s: the check misses reads", name)
		}
	}
}

// TestDocsNameEveryErrorCode: every code the gateway answers has a row in
// docs/api.md's table with its status, and is in the OpenAPI document's list
// of codes; the table lists no code the gateway does not answer.
func TestDocsNameEveryErrorCode(t *testing.T) {
	t.Parallel()
	uses := errorCodes(t, parseRepo(t))
	rows := docRows(t, "Error codes")

	raw, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(httpapiDir), "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Properties struct {
								Code struct {
									Description string `json:"description"`
								} `json:"code"`
							} `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	listed := regexp.MustCompile(`[a-z][a-z0-9_]*`).FindAllString(doc.Components.Schemas.Error.Properties.Error.Properties.Code.Description, -1)
	if len(listed) == 0 {
		t.Fatal("openapi.json: components.schemas.Error's code has no description listing the codes")
	}

	codes := map[string]bool{}
	for _, u := range uses {
		codes[u.code] = true
		status := strconv.FormatInt(u.status, 10)
		switch rs := rows[u.code]; {
		case len(rs) == 0:
			t.Errorf("%s answers %s, which docs/api.md's error codes do not list", u.at, u.code)
		case !slices.ContainsFunc(rs, func(r string) bool { return strings.Contains(r, "| "+status+" |") }):
			t.Errorf("%s answers %s with %s, which docs/api.md does not say:\n%s", u.at, u.code, status, strings.Join(rs, ""))
		}
		if !slices.Contains(listed, u.code) {
			t.Errorf("%s answers %s, which openapi.json's Error code description does not list", u.at, u.code)
		}
	}
	for code := range rows {
		if !codes[code] {
			t.Errorf("docs/api.md lists %s, which the gateway never answers", code)
		}
	}
	for _, code := range []string{"validation_failed", "item_not_found", "order_not_found", "forbidden", "internal"} {
		if !codes[code] {
			t.Errorf("found no use of %s: the check misses codes", code)
		}
	}
}
