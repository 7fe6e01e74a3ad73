// Command runner_keys lists the TOML keys GitLab Runner decodes under `[[runners]]`, per
// section, from the `toml:"..."` tags of its config structs. `cargo xtask runner-keys` writes
// this file to a temporary directory and runs it with `go run`; the output is JSON on stdout.
//
// Usage: go run . MODULE@VERSION
//
// It downloads the module with `go mod download -json` and reads its source with go/parser
// and go/ast only: nothing of the runner is compiled or run. The walk follows the decoding
// rules of github.com/BurntSushi/toml, the runner's TOML decoder:
//   - a field's key is the name in its `toml` tag, else the Go field name; `toml:"-"` and
//     unexported fields are not decoded; keys match case-insensitively;
//   - an embedded struct without a tag name lends its fields to the outer table;
//   - a struct is a table, a slice of structs an array of tables, a map any keys ("free");
//   - a type with an UnmarshalTOML method decodes itself ("free": not checked below it),
//     one with UnmarshalText takes a value;
//   - a type from outside the module (time.Duration, Kubernetes API types, ...) is not
//     followed: a value, or "free" if it is a struct or map.
package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
)

// The root: one [[runners]] entry of config.toml.
const (
	rootPackage = "common"
	rootType    = "RunnerConfig"
	rootSection = "runners"
)

type download struct {
	Path, Version, Dir, Error string
}

type pkg struct {
	importPath string
	name       string
	types      map[string]*ast.TypeSpec
	typeFile   map[string]*ast.File
	methods    map[string]map[string]bool
}

type loader struct {
	modPath string
	modDir  string
	fset    *token.FileSet
	pkgs    map[string]*pkg
}

// A key's kind: "value", "table", "array" (of tables) or "free" (anything below it).
type key struct {
	kind   string
	fields []field // for "table" and "array"
}

type field struct {
	name string
	key  key
}

type section struct {
	Array bool              `json:"array"`
	Keys  map[string]string `json:"keys"`
}

type output struct {
	About       string              `json:"about"`
	Regenerate  string              `json:"regenerate"`
	Module      string              `json:"module"`
	VersionFile string              `json:"version_file"`
	Sections    map[string]*section `json:"sections"`
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: runner_keys MODULE@VERSION")
	}
	out, err := exec.Command("go", "mod", "download", "-json", os.Args[1]).Output()
	if err != nil {
		fail("go mod download %s: %v", os.Args[1], err)
	}
	var dl download
	if err := json.Unmarshal(out, &dl); err != nil {
		fail("go mod download output: %v", err)
	}
	if dl.Error != "" {
		fail("go mod download: %s", dl.Error)
	}
	version, _ := os.ReadFile(filepath.Join(dl.Dir, "VERSION"))
	l := &loader{modPath: dl.Path, modDir: dl.Dir, fset: token.NewFileSet(), pkgs: map[string]*pkg{}}
	root := l.load(dl.Path + "/" + rootPackage)
	if root.types[rootType] == nil {
		fail("%s.%s not found", rootPackage, rootType)
	}
	fields := l.structFields(root, root.types[rootType].Type, root.typeFile[rootType], nil)
	result := output{
		About: "The keys GitLab Runner decodes in one [[runners]] entry of its config, per " +
			"section, from the toml tags of its config structs. Generated: do not edit.",
		Regenerate:  "cargo xtask runner-keys",
		Module:      dl.Path + "@" + dl.Version,
		VersionFile: strings.TrimSpace(string(version)),
		Sections:    map[string]*section{},
	}
	emit(result.Sections, rootSection, true, fields)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(result); err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "runner_keys: "+format+"\n", args...)
	os.Exit(1)
}

// emit adds a section and, below it, the sections of its tables and arrays of tables.
func emit(sections map[string]*section, name string, array bool, fields []field) {
	s := &section{Array: array, Keys: map[string]string{}}
	sections[name] = s
	for _, f := range fields {
		if _, seen := s.Keys[f.name]; seen {
			continue // a shallower field hides an embedded one of the same name
		}
		s.Keys[f.name] = f.key.kind
		if f.key.kind == "table" || f.key.kind == "array" {
			emit(sections, name+"."+f.name, f.key.kind == "array", f.key.fields)
		}
	}
}

// load parses the Linux build of a package of the module (once).
func (l *loader) load(importPath string) *pkg {
	if p, ok := l.pkgs[importPath]; ok {
		return p
	}
	dir := filepath.Join(l.modDir, strings.TrimPrefix(strings.TrimPrefix(importPath, l.modPath), "/"))
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH = "linux", "amd64"
	bp, err := ctx.ImportDir(dir, 0)
	if err != nil {
		fail("reading package %s: %v", importPath, err)
	}
	p := &pkg{
		importPath: importPath,
		name:       bp.Name,
		types:      map[string]*ast.TypeSpec{},
		typeFile:   map[string]*ast.File{},
		methods:    map[string]map[string]bool{},
	}
	l.pkgs[importPath] = p
	for _, name := range bp.GoFiles {
		file, err := parser.ParseFile(l.fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			fail("parsing %s: %v", name, err)
		}
		for _, decl := range file.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					if ts, ok := spec.(*ast.TypeSpec); ok {
						p.types[ts.Name.Name] = ts
						p.typeFile[ts.Name.Name] = file
					}
				}
			case *ast.FuncDecl:
				if d.Recv == nil || len(d.Recv.List) == 0 {
					continue
				}
				recv := d.Recv.List[0].Type
				if star, ok := recv.(*ast.StarExpr); ok {
					recv = star.X
				}
				if index, ok := recv.(*ast.IndexExpr); ok {
					recv = index.X
				}
				if id, ok := recv.(*ast.Ident); ok {
					if p.methods[id.Name] == nil {
						p.methods[id.Name] = map[string]bool{}
					}
					p.methods[id.Name][d.Name.Name] = true
				}
			}
		}
	}
	return p
}

// importOf resolves a package name used in file to its import path.
func (l *loader) importOf(file *ast.File, name string) (string, bool) {
	for _, imp := range file.Imports {
		ipath, _ := strconv.Unquote(imp.Path.Value)
		if imp.Name != nil {
			if imp.Name.Name == name {
				return ipath, true
			}
			continue
		}
		if ipath == l.modPath || strings.HasPrefix(ipath, l.modPath+"/") {
			if l.load(ipath).name == name {
				return ipath, true
			}
		} else if path.Base(ipath) == name {
			return ipath, true
		}
	}
	return "", false
}

func (l *loader) inModule(importPath string) bool {
	return importPath == l.modPath || strings.HasPrefix(importPath, l.modPath+"/")
}

// stack holds the named types being walked, to stop at recursive types.
type stack []string

func (s stack) has(id string) bool {
	for _, x := range s {
		if x == id {
			return true
		}
	}
	return false
}

// keyOf says what a field of type expr (written in file of package p) decodes.
func (l *loader) keyOf(p *pkg, expr ast.Expr, file *ast.File, seen stack) key {
	switch t := expr.(type) {
	case *ast.ParenExpr:
		return l.keyOf(p, t.X, file, seen)
	case *ast.StarExpr:
		return l.keyOf(p, t.X, file, seen)
	case *ast.Ident:
		if ts, ok := p.types[t.Name]; ok {
			return l.named(p, t.Name, ts, seen)
		}
		if t.Name == "any" {
			return key{kind: "free"}
		}
		return key{kind: "value"} // a predeclared type
	case *ast.SelectorExpr:
		x, ok := t.X.(*ast.Ident)
		if !ok {
			return key{kind: "free"}
		}
		ipath, ok := l.importOf(file, x.Name)
		if !ok || !l.inModule(ipath) {
			return external(ipath, t.Sel.Name)
		}
		other := l.load(ipath)
		ts, ok := other.types[t.Sel.Name]
		if !ok {
			fail("%s.%s not found", ipath, t.Sel.Name)
		}
		return l.named(other, t.Sel.Name, ts, seen)
	case *ast.ArrayType:
		elem := l.keyOf(p, t.Elt, file, seen)
		switch elem.kind {
		case "table":
			return key{kind: "array", fields: elem.fields}
		case "free":
			return key{kind: "free"}
		}
		return key{kind: "value"}
	case *ast.MapType, *ast.InterfaceType:
		return key{kind: "free"}
	case *ast.StructType:
		return key{kind: "table", fields: l.structFields(p, t, file, seen)}
	}
	return key{kind: "value"}
}

// notFollowed lists the outside types already reported.
var notFollowed = map[string]bool{}

// external: a type from outside the module is not followed.
func external(importPath, name string) key {
	if importPath == "time" || importPath == "" {
		return key{kind: "value"}
	}
	if id := importPath + "." + name; !notFollowed[id] {
		notFollowed[id] = true
		fmt.Fprintf(os.Stderr, "runner_keys: not followed: %s (nothing below it is checked)\n", id)
	}
	return key{kind: "free"}
}

// named: a type declared in the module.
func (l *loader) named(p *pkg, name string, ts *ast.TypeSpec, seen stack) key {
	id := p.importPath + "." + name
	methods := p.methods[name]
	if methods["UnmarshalTOML"] {
		return key{kind: "free"}
	}
	if methods["UnmarshalText"] {
		return key{kind: "value"}
	}
	if seen.has(id) {
		fmt.Fprintf(os.Stderr, "runner_keys: recursive type %s (keys below it are not checked)\n", id)
		return key{kind: "free"}
	}
	return l.keyOf(p, ts.Type, p.typeFile[name], append(seen, id))
}

// structFields lists the keys of a struct, embedded structs' keys included.
func (l *loader) structFields(p *pkg, expr ast.Expr, file *ast.File, seen stack) []field {
	st, ok := expr.(*ast.StructType)
	if !ok {
		fail("%s: not a struct", l.fset.Position(expr.Pos()))
	}
	var fields, promoted []field
	for _, f := range st.Fields.List {
		tagName := ""
		if f.Tag != nil {
			tag, _ := strconv.Unquote(f.Tag.Value)
			tagName, _, _ = strings.Cut(reflect.StructTag(tag).Get("toml"), ",")
		}
		if tagName == "-" {
			continue
		}
		if len(f.Names) == 0 {
			// Embedded: a named field with a tag name, else its fields are promoted.
			typeName := embeddedName(f.Type)
			if tagName != "" {
				fields = append(fields, field{name: tagName, key: l.keyOf(p, f.Type, file, seen)})
				continue
			}
			if !ast.IsExported(typeName) {
				continue
			}
			k := l.keyOf(p, f.Type, file, seen)
			if k.kind == "table" {
				promoted = append(promoted, k.fields...)
			} else {
				fields = append(fields, field{name: typeName, key: k})
			}
			continue
		}
		for _, n := range f.Names {
			if !n.IsExported() {
				continue
			}
			name := tagName
			if name == "" {
				name = n.Name
			}
			fields = append(fields, field{name: name, key: l.keyOf(p, f.Type, file, seen)})
		}
	}
	// Fields of the outer struct win over promoted ones of the same name.
	return append(fields, promoted...)
}

func embeddedName(expr ast.Expr) string {
	switch t := expr.(type) {
	case *ast.StarExpr:
		return embeddedName(t.X)
	case *ast.Ident:
		return t.Name
	case *ast.SelectorExpr:
		return t.Sel.Name
	}
	return ""
}
