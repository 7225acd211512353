package web_test

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// openAPIMethods are the operation keys of an OpenAPI path item.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// servedOpenAPI fetches the document the server serves and parses it as YAML.
func servedOpenAPI(t *testing.T, e *env) map[string]any {
	t.Helper()
	r := e.call(http.MethodGet, "/api/v1/openapi.yaml", "", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Contains(t, r.Header.Get("Content-Type"), "yaml")
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(r.Body, &doc), "openapi.yaml is not valid YAML")
	require.NotEmpty(t, doc, "openapi.yaml is empty")
	return doc
}

func TestOpenAPIDocumentIsServed(t *testing.T) {
	t.Parallel()
	doc := servedOpenAPI(t, newEnv(t))
	version, _ := doc["openapi"].(string)
	require.Regexp(t, `^3\.\d+\.\d+$`, version, "openapi: must be a 3.x version string")
	info, _ := doc["info"].(map[string]any)
	require.NotEmpty(t, info["title"], "info.title")
	require.NotEmpty(t, info["version"], "info.version")
	paths, _ := doc["paths"].(map[string]any)
	require.NotEmpty(t, paths, "paths")
}

// echoParam is a path parameter in echo's syntax.
var echoParam = regexp.MustCompile(`:([^/]+)`)

// TestOpenAPIMatchesRoutes fails when a route is registered but not documented, or
// documented but not registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	doc := servedOpenAPI(t, e)

	registered := map[string]bool{}
	for _, r := range e.api.Routes() {
		if r.Method == echo.RouteNotFound {
			continue // the catch-alls echo adds for group middleware ("/api/v1", "/api/v1/*")
		}
		registered[r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	require.NotEmpty(t, registered)

	documented := map[string]bool{}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		ops, ok := item.(map[string]any)
		require.True(t, ok, "paths[%q] is not an object", path)
		for key := range ops {
			if slices.Contains(openAPIMethods, key) {
				documented[strings.ToUpper(key)+" "+path] = true
			}
		}
	}

	var undocumented, unregistered []string
	for op := range registered {
		if !documented[op] {
			undocumented = append(undocumented, op)
		}
	}
	for op := range documented {
		if !registered[op] {
			unregistered = append(unregistered, op)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(unregistered)
	var msg strings.Builder
	if len(undocumented) > 0 {
		fmt.Fprintf(&msg, "registered in web/server.go but missing from web/openapi.yaml:\n  %s\n",
			strings.Join(undocumented, "\n  "))
	}
	if len(unregistered) > 0 {
		fmt.Fprintf(&msg, "in web/openapi.yaml but not registered in web/server.go:\n  %s\n",
			strings.Join(unregistered, "\n  "))
	}
	if msg.Len() > 0 {
		t.Fatal(msg.String())
	}
}

// TestOpenAPIOperations checks what each documented operation must have: a unique
// operationId, responses, every {param} of its path declared, and an
// Idempotency-Key parameter on writes. It also checks every local $ref resolves.
func TestOpenAPIOperations(t *testing.T) {
	t.Parallel()
	doc := servedOpenAPI(t, newEnv(t))

	var problems []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	// params resolves a parameter list to "in:name" keys.
	params := func(list any) map[string]bool {
		out := map[string]bool{}
		items, _ := list.([]any)
		for _, p := range items {
			m, _ := p.(map[string]any)
			if ref, ok := m["$ref"].(string); ok {
				m, _ = resolveRef(doc, ref).(map[string]any)
			}
			in, _ := m["in"].(string)
			name, _ := m["name"].(string)
			out[in+":"+name] = true
		}
		return out
	}

	ids := map[string]string{}
	paths, _ := doc["paths"].(map[string]any)
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		shared := params(ops["parameters"])
		for _, method := range openAPIMethods {
			op, ok := ops[method].(map[string]any)
			if !ok {
				continue
			}
			where := strings.ToUpper(method) + " " + path
			declared := params(op["parameters"])
			for k := range shared {
				declared[k] = true
			}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				if !declared["path:"+m[1]] {
					problem("%s: path parameter {%s} is not declared", where, m[1])
				}
			}
			if method == "post" || method == "put" || method == "patch" || method == "delete" {
				if !declared["header:Idempotency-Key"] {
					problem("%s: writes must take the Idempotency-Key header (#/components/parameters/IdempotencyKey)", where)
				}
			}
			id, _ := op["operationId"].(string)
			switch {
			case id == "":
				problem("%s: no operationId", where)
			case ids[id] != "":
				problem("%s: operationId %q is also used by %s", where, id, ids[id])
			default:
				ids[id] = where
			}
			switch resp := op["responses"].(type) {
			case map[string]any:
				if len(resp) == 0 {
					problem("%s: no responses", where)
				}
			case nil:
				problem("%s: no responses", where)
			default:
				problem("%s: responses must be keyed by quoted status codes, such as \"200\":", where)
			}
		}
	}

	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && resolveRef(doc, ref) == nil {
				problem("%s: $ref %q does not resolve", at, ref)
			}
			for k, x := range v {
				walk(at+"/"+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s/%d", at, i), x)
			}
		}
	}
	walk("#", doc)

	slices.Sort(problems)
	if len(problems) > 0 {
		t.Fatalf("web/openapi.yaml:\n  %s", strings.Join(problems, "\n  "))
	}
}

// resolveRef follows a local JSON pointer such as #/components/schemas/Event, or
// returns nil.
func resolveRef(doc map[string]any, ref string) any {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = doc
	for _, part := range strings.Split(rest, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[part]; !ok {
			return nil
		}
	}
	return cur
}

// The API reference page (/api) is made from the served document: every
// operation of it has its entry there, with an anchor, its summary and every
// response status, and the contents link to each entry.
func TestAPIReferenceListsEveryOperation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	doc := servedOpenAPI(t, e)
	r := e.call(http.MethodGet, "/api", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.True(t, strings.HasPrefix(r.Header.Get("Content-Type"), "text/html"))
	page := html.UnescapeString(string(r.Body))

	paths, _ := doc["paths"].(map[string]any)
	n := 0
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			if !slices.Contains(openAPIMethods, method) {
				continue
			}
			n++
			o := op.(map[string]any)
			entry := fmt.Sprintf(`data-operation="%s %s"`, strings.ToUpper(method), path)
			start := strings.Index(page, entry)
			require.NotEqual(t, -1, start, "%s %s is not on the page", strings.ToUpper(method), path)
			end := strings.Index(page[start:], "</article>")
			require.NotEqual(t, -1, end)
			article := page[start : start+end]
			anchor := "op-" + strings.ToLower(o["operationId"].(string))
			require.Contains(t, page[:start], `id="`+anchor+`"`, "%s %s has no anchor", method, path)
			require.Contains(t, page, `href="#`+anchor+`"`, "the contents do not link %s %s", method, path)
			require.Contains(t, article, o["summary"].(string))
			for status := range o["responses"].(map[string]any) {
				require.Contains(t, article, "<th scope=\"row\">"+status+"</th>", "%s %s: response %s", method, path, status)
			}
		}
	}
	require.Equal(t, n, strings.Count(page, "data-operation="), "the page lists operations the document does not")
	require.Contains(t, page, `<a href="#schema-eventpatch"><code>EventPatch</code></a>`, "a request body names its schema")
	require.Contains(t, page, `id="schema-eventpatch"`)
}
