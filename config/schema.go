package config

import (
	"encoding/json"
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
	levelItem := map[string]any{"enum": []any{"critical", "error", "warning", "information", "verbose"}}
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
		p := map[string]any{"type": "string"}
		if k.name == "with" {
			p = map[string]any{"type": "object"}
		}
		p["description"] = k.doc
		actionProps[k.name] = p
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
		topProps[k.name] = map[string]any{
			"description": k.doc,
			"type":        "array",
			"items": map[string]any{
				"type": "object", "properties": ruleProps, "additionalProperties": false,
				"required": []any{"name", "match"},
			},
		}
	}
	schema := map[string]any{
		"$schema":              "http://json-schema.org/draft-07/schema#",
		"$id":                  "https://github.com/logmedic/logmedic/docs/logmedic.schema.json",
		"title":                "logmedic configuration",
		"type":                 "object",
		"properties":           topProps,
		"required":             []any{"rules"},
		"additionalProperties": false,
		"definitions":          map[string]any{"condition": condition},
	}
	b, err := json.MarshalIndent(schema, "", "  ")
	if err != nil {
		panic(err) // the schema is built from literals above
	}
	return append(b, '\n')
}
