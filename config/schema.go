package config

import (
	"encoding/json"
	"reflect"
	"time"

	"github.com/logmedic/logmedic/handlers"
)

// Schema returns a JSON Schema (draft-07) of the configuration, for
// editors: yaml-language-server reads it from the modeline
// "# yaml-language-server: $schema=<path or URL>". It is built from the
// loader's own key tables, so the two cannot drift apart.
func Schema() []byte {
	str := map[string]any{"type": "string"}
	strOrList := func(doc string) map[string]any {
		return map[string]any{
			"description": doc,
			"anyOf":       []any{str, map[string]any{"type": "array", "items": str, "minItems": 1}},
		}
	}
	idItem := map[string]any{"anyOf": []any{
		map[string]any{"type": "integer", "minimum": 0, "maximum": 65535},
		map[string]any{"type": "string", "pattern": `^\s*\d{1,5}\s*(-\s*\d{1,5}\s*)?$`},
	}}
	levelItem := map[string]any{"anyOf": []any{
		map[string]any{"enum": []any{"critical", "error", "warning", "information", "verbose", "Critical", "Error", "Warning", "Information", "Verbose", "informational", "info"}},
		map[string]any{"type": "integer", "minimum": 1, "maximum": 5},
	}}
	codeItem := map[string]any{"anyOf": []any{
		map[string]any{"type": "integer"},
		map[string]any{"type": "string", "pattern": `^\s*(0[xX][0-9A-Fa-f]{1,8}|-?\d{1,10}|%%\d{1,10}|[0-9A-Fa-f]{8})\s*$`},
	}}
	scalar := map[string]any{"type": []any{"string", "number", "boolean"}}
	listOf := func(item map[string]any) map[string]any {
		return map[string]any{"type": "array", "items": item, "minItems": 1}
	}
	oneOrList := func(doc string, item map[string]any) map[string]any {
		return map[string]any{"description": doc, "anyOf": []any{item, listOf(item)}}
	}

	opProps := map[string]any{}
	for _, k := range opKeys {
		var p map[string]any
		switch k.name {
		case "in":
			p = listOf(scalar)
		case "not":
			p = map[string]any{"$ref": "#/definitions/condition"}
		case "exists", "case_sensitive":
			p = map[string]any{"type": "boolean"}
		case "gt", "lt":
			p = map[string]any{"type": []any{"number", "string"}}
		default:
			p = map[string]any{"type": []any{"string", "number"}}
		}
		p["description"] = k.doc
		opProps[k.name] = p
	}
	condition := map[string]any{
		"description": "A value (equals), a list (any of), or a mapping of operators (all must hold).",
		"anyOf": []any{
			scalar,
			listOf(scalar),
			map[string]any{"type": "object", "properties": opProps, "additionalProperties": false, "minProperties": 1},
		},
	}

	matchProps := map[string]any{}
	for _, k := range matchKeys {
		var p map[string]any
		switch k.name {
		case "channel", "provider":
			p = strOrList(k.doc)
		case "event_id":
			p = oneOrList(k.doc, idItem)
		case "level":
			p = oneOrList(k.doc, levelItem)
		case "error_code":
			p = oneOrList(k.doc, codeItem)
		case "fields":
			p = map[string]any{
				"description":          k.doc,
				"type":                 "object",
				"additionalProperties": map[string]any{"$ref": "#/definitions/condition"},
			}
		}
		matchProps[k.name] = p
	}

	actionProps := map[string]any{}
	for _, k := range actionKeys {
		var p map[string]any
		switch k.name {
		case "handler":
			p = map[string]any{"type": "string"}
		case "with":
			p = map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}
		case "resolves":
			p = strOrList(k.doc)
		}
		p["description"] = k.doc
		actionProps[k.name] = p
	}
	dedupProps := map[string]any{}
	for _, k := range dedupKeys {
		dedupProps[k.name] = map[string]any{"type": "string", "description": k.doc}
	}

	ruleProps := map[string]any{}
	for _, k := range ruleKeys {
		var p map[string]any
		switch k.name {
		case "name":
			p = map[string]any{"type": "string", "minLength": 1}
		case "description":
			p = map[string]any{"type": "string"}
		case "match":
			p = map[string]any{"type": "object", "properties": matchProps, "additionalProperties": false, "minProperties": 1}
		case "dedup":
			p = map[string]any{"type": "object", "properties": dedupProps, "additionalProperties": false}
		case "actions":
			p = map[string]any{"type": "array", "items": map[string]any{
				"type": "object", "properties": actionProps, "additionalProperties": false, "required": []any{"handler"},
			}}
		}
		p["description"] = k.doc
		ruleProps[k.name] = p
	}

	topProps := map[string]any{}
	for _, k := range topKeys {
		var p map[string]any
		switch k.name {
		case "rules":
			p = map[string]any{
				"type": "array",
				"items": map[string]any{
					"type": "object", "properties": ruleProps, "additionalProperties": false,
					"required": []any{"name", "match"},
				},
			}
		case "handlers":
			p = map[string]any{"type": "object", "additionalProperties": map[string]any{"$ref": "#/definitions/handler"}}
		case "state_dir":
			p = map[string]any{"type": "string"}
		case "sources":
			props := map[string]any{}
			for _, k := range sourceKeys {
				var kp map[string]any
				switch k.name {
				case "providers":
					kp = map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
				case "start":
					kp = map[string]any{"enum": []any{"bookmark", "now", "oldest"}}
				case "on_stale_bookmark":
					kp = map[string]any{"enum": []any{"oldest", "now"}}
				case "batch":
					kp = map[string]any{"type": "integer", "minimum": 1, "maximum": 1024}
				case "locale":
					kp = map[string]any{"type": "integer", "minimum": 0, "maximum": 65535}
				default:
					kp = map[string]any{"type": "string"}
				}
				kp["description"] = k.doc
				props[k.name] = kp
			}
			p = map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": props, "additionalProperties": false}}
		}
		p["description"] = k.doc
		topProps[k.name] = p
	}

	schema := map[string]any{
		"$schema":              "http://json-schema.org/draft-07/schema#",
		"$id":                  "https://github.com/logmedic/logmedic/docs/logmedic.schema.json",
		"title":                "logmedic configuration",
		"type":                 "object",
		"properties":           topProps,
		"required":             []any{"rules"},
		"additionalProperties": false,
		"definitions":          map[string]any{"condition": condition, "handler": handlerSchema()},
	}
	b, err := json.MarshalIndent(schema, "", "  ")
	if err != nil {
		panic(err) // the schema is built from literals above
	}
	return append(b, '\n')
}

// handlerSchema describes a handler: the common keys, then per type its
// Config's keys, read from the struct tags by reflection.
func handlerSchema() map[string]any {
	common := map[string]any{}
	for _, k := range commonHandlerKeys {
		var p map[string]any
		switch k.name {
		case "type":
			p = map[string]any{"enum": anySlice(typeNames())}
		case "concurrency":
			p = map[string]any{"type": "integer", "minimum": 1, "maximum": 256}
		case "timeout":
			p = map[string]any{"type": "string"}
		case "retry":
			p = typeSchema(reflect.TypeFor[retryConfig]())
		}
		p["description"] = k.doc
		common[k.name] = p
	}
	var cases []any
	for _, t := range handlerTypes {
		props := map[string]any{}
		for k, v := range common {
			props[k] = v
		}
		ts := typeSchema(t.typeOf())
		for k, v := range ts["properties"].(map[string]any) {
			props[k] = v
		}
		cases = append(cases, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"type": map[string]any{"const": t.name}}},
			"then": map[string]any{"properties": props, "additionalProperties": false, "description": t.doc},
		})
	}
	return map[string]any{"type": "object", "required": []any{"type"}, "properties": common, "allOf": cases}
}

var (
	templateType = reflect.TypeFor[*handlers.Template]()
	durationType = reflect.TypeFor[time.Duration]()
)

// typeSchema describes a Config type's YAML form from its struct tags.
func typeSchema(t reflect.Type) map[string]any {
	switch {
	case t == templateType:
		return map[string]any{"type": "string", "description": "A template: text with {{.Computer}}, {{.ErrorCode}}, {{explain .ErrorCode}} ..."}
	case t == durationType:
		return map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`}
	case t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType):
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeSchema(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": typeSchema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": typeSchema(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		for i := range t.NumField() {
			f := t.Field(i)
			k := yamlKey(f)
			if k == "" {
				continue
			}
			p := typeSchema(f.Type)
			if doc := f.Tag.Get("doc"); doc != "" {
				p["description"] = doc
			}
			props[k] = p
		}
		return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	}
	return map[string]any{}
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
