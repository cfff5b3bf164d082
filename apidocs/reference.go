package apidocs

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// reference is what the page shows: the document, arranged for reading.
type reference struct {
	Title, Version, Summary string
	Description             template.HTML
	Auth                    []authScheme
	Problem                 *body // the fields every error answer has
	Env                     []envVar
	Groups                  []*group
	Count                   int
}

type envVar struct{ Name, Holds string }

type authScheme struct {
	Name        string
	Description template.HTML
}

// group is the operations of one tag, in the document's order.
type group struct {
	Tag         string
	ID          string
	Description template.HTML
	Operations  []*operation
}

type operation struct {
	ID, Method, Path, Summary string
	Description               template.HTML
	Public                    bool // needs no credential
	Parameters                []param
	Body                      *body
	Responses                 []response // 1xx to 3xx
	Errors                    []response // problem documents
	Examples                  []example
	line                      int
}

type param struct {
	Name, In, Type string
	Required       bool
	Description    template.HTML
	Example        string
}

type body struct {
	MediaType, Schema string
	Required          bool
	Description       template.HTML
	Fields            []field
	Example           string
}

type response struct {
	Status, Class  string // Class: ok, error
	Summary        string // the description's first sentence, as text
	Description    template.HTML
	MediaType      string
	Schema         string
	ProblemType    string
	Headers        []header
	Fields         []field
	Example        string
	ExampleCaption string
}

type header struct {
	Name        string
	Description template.HTML
}

// field is one member of a body, nested members named by their path
// (credits.refill.amount).
type field struct {
	Name, Type  string
	Depth       int
	Required    bool
	Description template.HTML
	Example     string
}

type example struct {
	Language
	Code    string
	Missing bool
}

// newReference loads doc and arranges it, with each operation's examples
// from ex.
func newReference(doc []byte, ex fs.FS) (*reference, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	loader.IncludeOrigin = true // the document's order, for operations and fields
	t, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	ref := &reference{Title: t.Info.Title, Version: t.Info.Version, Summary: t.Info.Summary, Description: markdown(t.Info.Description)}
	for _, e := range Env {
		ref.Env = append(ref.Env, envVar(e))
	}
	if t.Components != nil {
		for _, name := range sortedKeys(t.Components.SecuritySchemes) {
			s := t.Components.SecuritySchemes[name].Value
			ref.Auth = append(ref.Auth, authScheme{Name: name, Description: markdown(s.Description)})
		}
	}

	if t.Components != nil {
		if p := t.Components.Schemas["Problem"]; p != nil {
			ref.Problem = &body{MediaType: "application/problem+json", Schema: "Problem", Description: markdown(p.Value.Description), Fields: fields(p, "", 0)}
			if r := t.Components.Responses["BadRequest"]; r != nil && r.Value != nil {
				if c := r.Value.Content["application/problem+json"]; c != nil {
					ref.Problem.Example, _ = mediaExample(c)
				}
			}
		}
	}

	byTag := map[string]*group{}
	for _, tag := range t.Tags {
		g := &group{Tag: tag.Name, ID: "tag-" + slug(tag.Name), Description: markdown(tag.Description)}
		ref.Groups = append(ref.Groups, g)
		byTag[tag.Name] = g
	}
	for p, item := range t.Paths.Map() {
		for method, op := range item.Operations() {
			o, err := newOperation(p, method, item, op, ex)
			if err != nil {
				return nil, err
			}
			tag := "Other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			g := byTag[tag]
			if g == nil { // a tag the document does not describe
				g = &group{Tag: tag, ID: "tag-" + slug(tag)}
				ref.Groups = append(ref.Groups, g)
				byTag[tag] = g
			}
			g.Operations = append(g.Operations, o)
			ref.Count++
		}
	}
	for _, g := range ref.Groups {
		slices.SortFunc(g.Operations, func(a, b *operation) int { return a.line - b.line })
	}
	ref.Groups = slices.DeleteFunc(ref.Groups, func(g *group) bool { return len(g.Operations) == 0 })
	return ref, nil
}

func newOperation(p, method string, item *openapi3.PathItem, op *openapi3.Operation, ex fs.FS) (*operation, error) {
	if op.OperationID == "" {
		return nil, fmt.Errorf("%s %s has no operationId, which names its examples", method, p)
	}
	o := &operation{
		ID: op.OperationID, Method: method, Path: p, Summary: op.Summary,
		Description: markdown(op.Description),
		Public:      op.Security != nil && len(*op.Security) == 0,
		line:        originLine(op.Origin),
	}
	for _, pr := range append(slices.Clone(item.Parameters), op.Parameters...) {
		v := pr.Value
		pm := param{Name: v.Name, In: v.In, Required: v.Required, Description: markdown(v.Description)}
		if v.Schema != nil {
			pm.Type = typeName(v.Schema)
			d := v.Description
			if d == "" {
				d = v.Schema.Value.Description
			}
			pm.Description = markdown(strings.TrimSpace(d + "\n\n" + constraints(v.Schema.Value)))
			pm.Example = exampleOf(v.Example, v.Schema.Value)
		}
		o.Parameters = append(o.Parameters, pm)
	}
	if rb := op.RequestBody; rb != nil && rb.Value != nil {
		// One media type is all any operation reads.
		if mts := sortedKeys(rb.Value.Content); len(mts) > 0 {
			mt := mts[0]
			c := rb.Value.Content[mt]
			b := &body{MediaType: mt, Required: rb.Value.Required, Description: markdown(rb.Value.Description)}
			if c.Schema != nil {
				b.Schema = refName(c.Schema.Ref)
				if b.Description == "" {
					b.Description = markdown(c.Schema.Value.Description)
				}
				b.Fields = fields(c.Schema, "", 0)
			}
			b.Example, _ = mediaExample(c)
			o.Body = b
		}
	}
	for _, status := range sortedKeys(op.Responses.Map()) {
		rv := op.Responses.Value(status).Value
		r := response{Status: status, Class: "ok", Summary: firstSentence(deref(rv.Description)), Description: markdown(deref(rv.Description))}
		if !strings.HasPrefix(status, "2") && !strings.HasPrefix(status, "3") {
			r.Class = "error"
		}
		for _, name := range sortedKeys(rv.Headers) {
			h := rv.Headers[name].Value
			r.Headers = append(r.Headers, header{Name: name, Description: markdown(h.Description)})
		}
		if mts := sortedKeys(rv.Content); len(mts) > 0 { // one media type each
			mt := mts[0]
			c := rv.Content[mt]
			r.MediaType = mt
			if c.Schema != nil {
				r.Schema = refName(c.Schema.Ref)
				if r.Class == "error" {
					r.ProblemType = problemType(c.Schema)
				} else if mt == "application/json" {
					r.Fields = fields(c.Schema, "", 0)
				}
			}
			// Every error is a problem document, described once at the
			// top of the page: an error shows its type and when it comes.
			if r.Class != "error" {
				r.Example, r.ExampleCaption = mediaExample(c)
			}
		}
		if r.Class == "error" {
			o.Errors = append(o.Errors, r)
		} else {
			o.Responses = append(o.Responses, r)
		}
	}
	for _, l := range Languages {
		code, err := fs.ReadFile(ex, "examples/"+op.OperationID+"/"+l.File)
		// A missing example shows as missing, and fails the tests, rather
		// than taking the whole page down with it.
		o.Examples = append(o.Examples, example{Language: l, Code: string(code), Missing: err != nil})
	}
	return o, nil
}

// fieldDepth bounds how deep nested members are listed.
const fieldDepth = 3

// fields lists the members of the object (or array of objects) s, each
// followed by its own members.
func fields(s *openapi3.SchemaRef, prefix string, depth int) []field {
	v := s.Value
	if v == nil || depth > fieldDepth {
		return nil
	}
	if v.Type.Includes("array") && v.Items != nil {
		// A body that is an array lists its items' members as they are;
		// a member that is one, as name[].member.
		if prefix != "" {
			prefix += "[]"
		}
		return fields(v.Items, prefix, depth)
	}
	if inner := nullable(v); inner != nil {
		return fields(inner, prefix, depth)
	}
	props, required := properties(v)
	names := sortedKeys(props)
	slices.SortStableFunc(names, func(a, b string) int { return originLine(props[a].Origin) - originLine(props[b].Origin) })
	var out []field
	for _, name := range names {
		p := props[name]
		full := name
		if prefix != "" {
			full = prefix + "." + name
		}
		out = append(out, field{
			Name: full, Type: typeName(p), Depth: depth,
			Required:    slices.Contains(required, name),
			Description: markdown(describe(p.Value)),
			Example:     exampleOf(nil, p.Value),
		})
		out = append(out, fields(p, full, depth+1)...)
	}
	return out
}

// properties merges an object's own members with its allOf parts'.
func properties(v *openapi3.Schema) (openapi3.Schemas, []string) {
	props := openapi3.Schemas{}
	required := slices.Clone(v.Required)
	for _, part := range v.AllOf {
		if part.Value == nil {
			continue
		}
		pp, pr := properties(part.Value)
		for k, s := range pp {
			props[k] = s
		}
		required = append(required, pr...)
	}
	for k, s := range v.Properties {
		props[k] = s
	}
	return props, required
}

// nullable returns X of a oneOf [X, null], and nil for any other schema.
func nullable(v *openapi3.Schema) *openapi3.SchemaRef {
	if len(v.OneOf) != 2 {
		return nil
	}
	for i, s := range v.OneOf {
		if s.Value != nil && s.Value.Type.Is("null") {
			return v.OneOf[1-i]
		}
	}
	return nil
}

// describe is a schema's description, with its allowed values.
func describe(v *openapi3.Schema) string {
	if v == nil {
		return ""
	}
	d := v.Description
	if len(v.Enum) > 0 {
		var vals []string
		for _, e := range v.Enum {
			vals = append(vals, "`"+fmt.Sprint(e)+"`")
		}
		d = strings.TrimSpace(d + "\n\nOne of " + strings.Join(vals, ", ") + ".")
	}
	return strings.TrimSpace(d + "\n\n" + constraints(v))
}

// constraints says what a schema allows beyond its type: its default and
// its bounds.
func constraints(v *openapi3.Schema) string {
	var parts []string
	if v.Default != nil {
		parts = append(parts, "Default: `"+compactJSON(v.Default)+"`.")
	}
	switch {
	case v.Min != nil && v.Max != nil:
		parts = append(parts, "From "+number(*v.Min)+" to "+number(*v.Max)+".")
	case v.Min != nil:
		parts = append(parts, "At least "+number(*v.Min)+".")
	case v.Max != nil:
		parts = append(parts, "At most "+number(*v.Max)+".")
	}
	if v.MaxLength != nil {
		parts = append(parts, fmt.Sprintf("%d to %d characters.", v.MinLength, *v.MaxLength))
	}
	return strings.Join(parts, " ")
}

// typeName says what a schema is, as a reader needs it: string, integer,
// array of string, RateLimit or null.
func typeName(s *openapi3.SchemaRef) string {
	v := s.Value
	if v == nil {
		return ""
	}
	if inner := nullable(v); inner != nil {
		return typeName(inner) + " or null"
	}
	if v.Const != nil {
		return compactJSON(v.Const)
	}
	var kinds []string
	for _, k := range v.Type.Slice() {
		switch {
		case k == "array" && v.Items != nil:
			k = "array of " + typeName(v.Items)
		case k == "object" && s.Ref != "":
			k = refName(s.Ref)
		case k == "string" && v.Format != "":
			k = "string (" + v.Format + ")"
		}
		kinds = append(kinds, k)
	}
	if len(kinds) == 0 && len(v.AllOf) > 0 {
		return refName(s.Ref)
	}
	return strings.Join(kinds, " or ")
}

// problemType is the type URN a problem schema fixes (type: const), if any.
func problemType(s *openapi3.SchemaRef) string {
	props, _ := properties(s.Value)
	if t := props["type"]; t != nil && t.Value != nil && t.Value.Const != nil {
		return fmt.Sprint(t.Value.Const)
	}
	return ""
}

// mediaExample is a body's example, as indented JSON, and the name of the
// example chosen among several (the first by name).
func mediaExample(c *openapi3.MediaType) (string, string) {
	if c.Example != nil {
		return indentJSON(c.Example), ""
	}
	for _, name := range sortedKeys(c.Examples) {
		if e := c.Examples[name].Value; e != nil && e.Value != nil {
			caption := name
			if len(c.Examples) > 1 {
				caption = fmt.Sprintf("%s (one of %d examples)", name, len(c.Examples))
			}
			return indentJSON(e.Value), caption
		}
	}
	return "", ""
}

// exampleOf is an example value of a parameter or member, compact.
func exampleOf(given any, v *openapi3.Schema) string {
	switch {
	case given != nil:
		return compactJSON(given)
	case v == nil:
		return ""
	case v.Example != nil:
		return compactJSON(v.Example)
	case len(v.Examples) > 0 && v.Examples[0] != nil:
		return compactJSON(v.Examples[0])
	}
	return ""
}

func compactJSON(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func indentJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// number writes a bound as the document does: 9007199254740991, not
// 9.007199254740991e+15.
func number(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// firstSentence is the first sentence of a description, without its
// Markdown.
func firstSentence(s string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "`", "")), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	return s
}

// refName is the last element of a $ref: #/components/schemas/Key is Key.
func refName(ref string) string {
	return ref[strings.LastIndex(ref, "/")+1:]
}

func originLine(o *openapi3.Origin) int {
	if o == nil || o.Key == nil {
		return 0
	}
	return o.Key.Line
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// slug makes an element id of a name: lower case, spaces as dashes.
func slug(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), "-"))
}
