package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/logmedic/logmedic/handlers"
)

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// yamlKey returns the configuration key of a struct field, or "".
func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name
}

// structKeys lists a struct type's configuration keys with their docs.
func structKeys(t reflect.Type) []keyDoc {
	var out []keyDoc
	for i := range t.NumField() {
		f := t.Field(i)
		if k := yamlKey(f); k != "" {
			out = append(out, keyDoc{k, f.Tag.Get("doc")})
		}
	}
	return out
}

var yamlLineRef = regexp.MustCompile(`^(yaml: )?(unmarshal errors:\s*)?line \d+: `)

// decodeStrict decodes mapping n into the struct dst points to, reporting
// every unknown, repeated or mistyped key at its position. It returns the
// value node of each key it decoded, by dotted path ("tls.ca_file"), so
// later checks can point at them too.
func decodeStrict(c *errs, n *yaml.Node, where string, dst any) map[string]*yaml.Node {
	nodes := map[string]*yaml.Node{}
	decodeInto(c, n, where, "", reflect.ValueOf(dst).Elem(), nodes)
	return nodes
}

func decodeInto(c *errs, n *yaml.Node, where, prefix string, v reflect.Value, nodes map[string]*yaml.Node) {
	if n.Kind != yaml.MappingNode {
		c.at(n, "%s: expected a mapping, found %s", where, kind(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	for i := range t.NumField() {
		if k := yamlKey(t.Field(i)); k != "" {
			fields[k] = i
		}
	}
	for _, kv := range pairs(c, n, where, structKeys(t)) {
		f := v.Field(fields[kv.key.Value])
		path := prefix + kv.key.Value
		w := where + "." + kv.key.Value
		nodes[path] = kv.val
		ft := f.Type()
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(unmarshalerType) {
			decodeInto(c, kv.val, w, path+".", f, nodes)
			continue
		}
		if err := kv.val.Decode(f.Addr().Interface()); err != nil {
			reportDecode(c, kv.val, w, err)
		}
		recordChildren(kv.val, path+".", nodes)
	}
}

// reportDecode reports a value's decode error at the best position known.
func reportDecode(c *errs, n *yaml.Node, where string, err error) {
	var ne *handlers.NodeError
	if errors.As(err, &ne) && ne.Node != nil {
		c.at(ne.Node, "%s: %v", where, ne.Err)
		return
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, m := range te.Errors {
			c.at(n, "%s: %s", where, yamlLineRef.ReplaceAllString(m, ""))
		}
		return
	}
	c.at(n, "%s: %s", where, yamlLineRef.ReplaceAllString(err.Error(), ""))
}

// fieldErrors reports errors from a handler's Validate or New: each
// *handlers.FieldError at its key's position, anything else at the
// handler's.
func fieldErrors(c *errs, err error, where string, at *yaml.Node, nodes map[string]*yaml.Node) {
	if err == nil {
		return
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		var fe *handlers.FieldError
		if errors.As(e, &fe) {
			n := nodes[fe.Key]
			if n == nil {
				n = at
			}
			c.at(n, "%s.%s: %s", where, fe.Key, fe.Msg)
			continue
		}
		c.at(at, "%s: %s", where, fmt.Sprint(e))
	}
}

// recordChildren records the value nodes under a mapping decoded in one
// piece (a map of structs, such as secret_headers), by dotted path, so
// checks can point into it.
func recordChildren(n *yaml.Node, prefix string, nodes map[string]*yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		path := prefix + n.Content[i].Value
		nodes[path] = n.Content[i+1]
		recordChildren(n.Content[i+1], path+".", nodes)
	}
}
