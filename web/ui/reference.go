package ui

import (
	"fmt"
	"html/template"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// reference is the API reference page (/api) made from the served OpenAPI
// document: rendered once at start into the page's static bytes, so that the
// page and the contract cannot drift and a reader needs no script or tool.
type reference struct {
	Title, Version string
	Intro          template.HTML
	Groups         []refGroup
	Schemas        []refSchema
}

type refGroup struct {
	Name, Anchor string
	Description  template.HTML
	Ops          []refOp
}

type refOp struct {
	Method, Path, Anchor, Summary string
	Description                   template.HTML
	Auth                          string
	Params                        []refParam
	Body                          []refType // one per content type
	BodyRequired                  bool
	Responses                     []refResponse
}

type refParam struct {
	Name, In    string
	Required    bool
	Type        refType
	Description template.HTML
}

type refResponse struct {
	Status      string
	Description template.HTML
	Types       []refType
}

// refType is a schema's name as the page shows it: a named schema links to
// its entry (Anchor), anything else is its type (array of X, string…).
type refType struct {
	Name, Anchor, Prefix, Media string
}

type refSchema struct {
	Name, Anchor string
	Description  template.HTML
	Type         string
	Props        []refProp
}

type refProp struct {
	Name        string
	Required    bool
	Type        refType
	Description template.HTML
}

// The subset of OpenAPI 3 that the page shows. Ordered parts (paths, each
// path's operations, a schema's properties) stay yaml.Nodes so the page keeps
// the document's order.
type oaDoc struct {
	Info struct {
		Title, Version, Description string
	}
	Tags []struct {
		Name, Description string
	}
	Paths      yaml.Node
	Components struct {
		Parameters map[string]oaParam
		Responses  map[string]oaResponse
		Schemas    yaml.Node
	}
}

type oaParam struct {
	Ref         string `yaml:"$ref"`
	Name, In    string
	Description string
	Required    bool
	Schema      oaSchema
}

type oaSchema struct {
	Ref         string `yaml:"$ref"`
	Type        string
	Format      string
	Description string
	Items       *oaSchema
	Enum        []any
	OneOf       []oaSchema `yaml:"oneOf"`
	Required    []string
	Properties  yaml.Node
}

type oaMedia struct {
	Schema oaSchema
}

type oaResponse struct {
	Ref         string `yaml:"$ref"`
	Description string
	Content     yaml.Node
}

type oaOp struct {
	Tags        []string
	OperationID string `yaml:"operationId"`
	Summary     string
	Description string
	Security    *[]map[string][]string
	Parameters  []oaParam
	RequestBody *struct {
		Required bool
		Content  yaml.Node
	} `yaml:"requestBody"`
	Responses yaml.Node
}

// methodOrder is the order of operations under one path.
var methodOrder = []string{"get", "head", "post", "put", "patch", "delete", "options", "trace"}

// newReference reads an OpenAPI 3 document.
func newReference(doc []byte) (*reference, error) {
	var d oaDoc
	if err := yaml.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("ui: openapi: %w", err)
	}
	ref := &reference{Title: d.Info.Title, Version: d.Info.Version, Intro: markdown(d.Info.Description)}
	for _, t := range d.Tags {
		ref.Groups = append(ref.Groups, refGroup{Name: t.Name, Anchor: "tag-" + slug(t.Name), Description: markdown(t.Description)})
	}
	group := func(name string) *refGroup {
		for i := range ref.Groups {
			if ref.Groups[i].Name == name {
				return &ref.Groups[i]
			}
		}
		ref.Groups = append(ref.Groups, refGroup{Name: name, Anchor: "tag-" + slug(name)})
		return &ref.Groups[len(ref.Groups)-1]
	}
	for path, item := range pairs(&d.Paths) {
		var shared struct {
			Parameters []oaParam
		}
		if err := item.Decode(&shared); err != nil {
			return nil, fmt.Errorf("ui: openapi: path %s: %w", path, err)
		}
		ops := map[string]*yaml.Node{}
		for key, n := range pairs(item) {
			ops[key] = n
		}
		for _, m := range methodOrder {
			n, ok := ops[m]
			if !ok {
				continue
			}
			var op oaOp
			if err := n.Decode(&op); err != nil {
				return nil, fmt.Errorf("ui: openapi: %s %s: %w", m, path, err)
			}
			o, err := d.operation(strings.ToUpper(m), path, shared.Parameters, &op)
			if err != nil {
				return nil, err
			}
			tag := "Other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			g := group(tag)
			g.Ops = append(g.Ops, o)
		}
	}
	ref.Groups = slices.DeleteFunc(ref.Groups, func(g refGroup) bool { return len(g.Ops) == 0 })
	for name, n := range pairs(&d.Components.Schemas) {
		var s oaSchema
		if err := n.Decode(&s); err != nil {
			return nil, fmt.Errorf("ui: openapi: schema %s: %w", name, err)
		}
		rs := refSchema{Name: name, Anchor: "schema-" + slug(name), Description: markdown(s.Description), Type: s.Type}
		if len(s.OneOf) > 0 {
			var alts []string
			for _, a := range s.OneOf {
				alts = append(alts, schemaType(a).String())
			}
			rs.Type = "one of " + strings.Join(alts, ", ")
		}
		for prop, pn := range pairs(&s.Properties) {
			var p oaSchema
			if err := pn.Decode(&p); err != nil {
				return nil, fmt.Errorf("ui: openapi: schema %s.%s: %w", name, prop, err)
			}
			rs.Props = append(rs.Props, refProp{Name: prop, Required: slices.Contains(s.Required, prop),
				Type: schemaType(p), Description: markdown(p.Description)})
		}
		ref.Schemas = append(ref.Schemas, rs)
	}
	return ref, nil
}

func (d *oaDoc) operation(method, path string, shared []oaParam, op *oaOp) (refOp, error) {
	anchor := "op-" + slug(op.OperationID)
	if op.OperationID == "" {
		anchor = "op-" + slug(method+" "+path)
	}
	o := refOp{Method: method, Path: path, Anchor: anchor, Summary: op.Summary, Description: markdown(op.Description),
		Auth: auth(op.Security)}
	for _, p := range append(slices.Clone(shared), op.Parameters...) {
		if p.Ref != "" {
			name := strings.TrimPrefix(p.Ref, "#/components/parameters/")
			q, ok := d.Components.Parameters[name]
			if !ok {
				return o, fmt.Errorf("ui: openapi: %s %s: no parameter %s", method, path, p.Ref)
			}
			p = q
		}
		o.Params = append(o.Params, refParam{Name: p.Name, In: p.In, Required: p.Required, Type: schemaType(p.Schema),
			Description: markdown(p.Description)})
	}
	if op.RequestBody != nil {
		o.BodyRequired = op.RequestBody.Required
		types, err := mediaTypes(&op.RequestBody.Content)
		if err != nil {
			return o, fmt.Errorf("ui: openapi: %s %s: %w", method, path, err)
		}
		o.Body = types
	}
	for status, n := range pairs(&op.Responses) {
		var r oaResponse
		if err := n.Decode(&r); err != nil {
			return o, fmt.Errorf("ui: openapi: %s %s %s: %w", method, path, status, err)
		}
		if r.Ref != "" {
			name := strings.TrimPrefix(r.Ref, "#/components/responses/")
			q, ok := d.Components.Responses[name]
			if !ok {
				return o, fmt.Errorf("ui: openapi: %s %s: no response %s", method, path, r.Ref)
			}
			r = q
		}
		types, err := mediaTypes(&r.Content)
		if err != nil {
			return o, fmt.Errorf("ui: openapi: %s %s %s: %w", method, path, status, err)
		}
		o.Responses = append(o.Responses, refResponse{Status: status, Description: markdown(r.Description), Types: types})
	}
	return o, nil
}

func mediaTypes(content *yaml.Node) ([]refType, error) {
	var out []refType
	for media, n := range pairs(content) {
		var m oaMedia
		if err := n.Decode(&m); err != nil {
			return nil, err
		}
		t := schemaType(m.Schema)
		t.Media = media
		out = append(out, t)
	}
	return out, nil
}

// auth says who may call an operation, from its security list (no list, or an
// empty one, is anyone; an empty requirement among others makes sign-in optional).
func auth(sec *[]map[string][]string) string {
	if sec == nil || len(*sec) == 0 {
		return "none"
	}
	for _, req := range *sec {
		if len(req) == 0 {
			return "optional: a bearer token or the sign-in cookie"
		}
	}
	return "required: a bearer token or the sign-in cookie"
}

func schemaType(s oaSchema) refType {
	switch {
	case s.Ref != "":
		name := s.Ref[strings.LastIndex(s.Ref, "/")+1:]
		return refType{Name: name, Anchor: "schema-" + slug(name)}
	case s.Type == "array" && s.Items != nil:
		t := schemaType(*s.Items)
		t.Prefix = "array of " + t.Prefix
		return t
	case len(s.OneOf) > 0:
		return refType{Name: "one of several shapes"}
	case s.Type == "":
		return refType{Name: "any"}
	case s.Format != "":
		return refType{Name: s.Type + " (" + s.Format + ")"}
	case len(s.Enum) > 0:
		vals := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			vals[i] = fmt.Sprint(v)
		}
		return refType{Name: s.Type + ": " + strings.Join(vals, ", ")}
	}
	return refType{Name: s.Type}
}

func (t refType) String() string { return t.Prefix + t.Name }

// pairs walks a YAML mapping's keys and values in the document's order.
func pairs(n *yaml.Node) func(yield func(string, *yaml.Node) bool) {
	return func(yield func(string, *yaml.Node) bool) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !yield(n.Content[i].Value, n.Content[i+1]) {
				return
			}
		}
	}
}

var slugRE = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	return strings.Trim(slugRE.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

var (
	codeRE = regexp.MustCompile("`([^`]+)`")
	boldRE = regexp.MustCompile(`\*\*([^*]+)\*\*`)
)

// markdown renders the little Markdown the document's descriptions use:
// paragraphs, "- " lists, `code` and **bold**. Everything is escaped first.
func markdown(s string) template.HTML {
	var b strings.Builder
	for block := range strings.SplitSeq(strings.TrimSpace(s), "\n\n") {
		block = strings.TrimSpace(block)
		if block == "" {
			continue
		}
		if strings.HasPrefix(block, "- ") {
			b.WriteString("<ul>")
			for item := range strings.SplitSeq("\n"+block, "\n- ") {
				if item = strings.TrimSpace(item); item != "" {
					b.WriteString("<li>" + inline(item) + "</li>")
				}
			}
			b.WriteString("</ul>")
			continue
		}
		b.WriteString("<p>" + inline(block) + "</p>")
	}
	return template.HTML(b.String())
}

func inline(s string) string {
	s = template.HTMLEscapeString(strings.Join(strings.Fields(s), " "))
	s = codeRE.ReplaceAllString(s, "<code>$1</code>")
	return boldRE.ReplaceAllString(s, "<strong>$1</strong>")
}
