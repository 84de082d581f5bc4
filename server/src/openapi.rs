//! The OpenAPI 3 description of the API, served at `GET /openapi.json`. It is written out
//! here rather than generated from the handlers: the API is small, and the description says
//! things types cannot (how values are parsed, which error codes come back and when). A test
//! checks that it documents exactly the routes of [`crate::router::routes`].

use serde_json::{Value as J, json};

fn error_response(description: &str) -> J {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn name_param() -> J {
    json!({
        "name": "name",
        "in": "path",
        "required": true,
        "description": "A model name (its newest version) or `name@version`.",
        "schema": {"type": "string"},
        "example": "iris_logreg@1"
    })
}

fn model_headers() -> J {
    json!({
        "keel-model": {"description": "The model that answered.", "schema": {"type": "string"}},
        "keel-model-version": {"description": "Its version.", "schema": {"type": "integer"}}
    })
}

fn scoring_errors(mut responses: serde_json::Map<String, J>) -> J {
    for (code, text) in [
        (
            "400",
            "Malformed request: invalid JSON (`malformed_json`), neither `rows` nor `columns` (`malformed_request`), a row that is not an object (`malformed_row`), an unreadable Arrow stream (`malformed_arrow`).",
        ),
        (
            "401",
            "With `keel serve --tokens`: no `Authorization: Bearer <token>`, or a token that is not known (`unauthorized`, with `WWW-Authenticate: Bearer`).",
        ),
        (
            "403",
            "With `keel serve --tokens`: the token's role may not call scoring (`forbidden`).",
        ),
        (
            "404",
            "No such model (`unknown_model`) or version (`unknown_version`).",
        ),
        (
            "406",
            "`Accept` names no type the endpoint writes (`not_acceptable`).",
        ),
        (
            "408",
            "The body did not arrive within the server's timeout (`request_timeout`).",
        ),
        (
            "413",
            "The body is larger than the server's limit (`payload_too_large`).",
        ),
        (
            "415",
            "`Content-Type` is missing or not one the endpoint reads (`unsupported_media_type`).",
        ),
        (
            "422",
            "The model's schema refuses the input: `missing_column`, `extra_column`, `column_type`, `bad_value` (a value that cannot be read as its column's type), `missing_value` (a null or NaN the model cannot take), `non_finite`, `unknown_category`, `row_count`, `empty_frame`. `column` and `row` locate the problem.",
        ),
        (
            "503",
            "The request was not answered within the server's timeout (`timeout`).",
        ),
    ] {
        responses.insert(code.into(), error_response(text));
    }
    J::Object(responses)
}

fn admin_errors(mut responses: serde_json::Map<String, J>) -> J {
    responses.insert(
        "401".into(),
        error_response("The bearer token is missing, malformed or not known (`unauthorized`)."),
    );
    responses.insert(
        "403".into(),
        error_response(
            "The admin API is disabled: the server was started without an admin token (`admin_disabled`); or the token's role is `score`, not `admin` (`forbidden`).",
        ),
    );
    responses.insert("404".into(), error_response("No such model (`not_found`)."));
    J::Object(responses)
}

fn obj(v: J) -> serde_json::Map<String, J> {
    match v {
        J::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// The document.
pub fn document() -> J {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "keel scoring server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Scores keel model bundles over HTTP. Models are named by their bundle's manifest; versions are integers given per name in load order, from 1, never reused; `name@3` picks a version and `name` the newest. Every error answer is `{\"error\": {\"code\", \"message\", \"column\", \"row\", \"request_id\"}}`; rows are counted from 0 within the request. Every answer carries an `x-request-id` header: the request's own, when it sent a sane one (1 to 128 visible ASCII characters), else one the server made. With `keel serve --tokens`, the scoring routes need `Authorization: Bearer <token>` (a `score` or `admin` token)."
        },
        "paths": {
            "/v1/models": {
                "get": {
                    "summary": "List loaded models",
                    "operationId": "listModels",
                    "responses": {"200": {
                        "description": "Every loaded version, and the sources whose latest content failed to load (the previous version, if any, keeps serving).",
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {
                                "models": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
                                "errors": {"type": "array", "items": {"$ref": "#/components/schemas/LoadError"}}
                            }
                        }}}
                    }}
                }
            },
            "/v1/models/{name}": {
                "get": {
                    "summary": "Describe a model",
                    "operationId": "getModel",
                    "parameters": [name_param()],
                    "responses": {
                        "200": {
                            "description": "The model (newest version unless `name@version`), with `versions`: every loaded version of the name.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Model"}}}
                        },
                        "404": error_response("No such model (`unknown_model`) or version (`unknown_version`).")
                    }
                }
            },
            "/v1/models/{name}/predict": {
                "post": {
                    "summary": "Score rows",
                    "operationId": "predict",
                    // Optional: open, or a bearer token with `keel serve --tokens`.
                    "security": [{}, {"bearer": []}],
                    "description": "Values are parsed by the model's input schema: numbers for numeric columns (`\"NaN\"`, `\"Infinity\"`, `\"-Infinity\"` for non-finite floats), strings for strings, `true`/`false`, arrays for vectors; `null` or an absent key is a missing value. Columns are matched by name in any order; a column the model does not declare is refused unless `ignore_extra_columns=true`. The answer has the request's form (rows, columns, or an Arrow stream) unless `Accept` asks for `application/json` or `application/vnd.apache.arrow.stream`. NaN and infinite outputs are `null` in JSON.",
                    "parameters": [
                        name_param(),
                        {"name": "ignore_extra_columns", "in": "query", "required": false,
                         "description": "Drop input columns the model does not declare instead of refusing them.",
                         "schema": {"type": "boolean", "default": false}}
                    ],
                    "requestBody": {
                        "required": true,
                        "content": {
                            "application/json": {"schema": {"oneOf": [
                                {"$ref": "#/components/schemas/RowsRequest"},
                                {"$ref": "#/components/schemas/ColumnsRequest"}
                            ]}},
                            "application/vnd.apache.arrow.stream": {
                                "schema": {"type": "string", "format": "binary"},
                                "description": "An Arrow IPC stream (an IPC file is also read); one output batch per input batch."
                            }
                        }
                    },
                    "responses": scoring_errors(obj(json!({
                        "200": {
                            "description": "The outputs, one per input row, in order.",
                            "headers": model_headers(),
                            "content": {
                                "application/json": {"schema": {"oneOf": [
                                    {"$ref": "#/components/schemas/RowsAnswer"},
                                    {"$ref": "#/components/schemas/ColumnsAnswer"}
                                ]}},
                                "application/vnd.apache.arrow.stream": {"schema": {"type": "string", "format": "binary"}}
                            }
                        }
                    })))
                }
            },
            "/v1/models/{name}/transform": {
                "post": {
                    "summary": "Transform an MLeap LeapFrame",
                    "operationId": "transform",
                    // Optional: open, or a bearer token with `keel serve --tokens`.
                    "security": [{}, {"bearer": []}],
                    "description": "MLeap-compatible: the answer is the input frame, its fields and values as sent, with the model's outputs appended as new columns (MLeap types: `double`, `string`, `long`, `integer`, `boolean`; non-nullable outputs as `{\"type\": \"basic\", \"base\": ..., \"isNullable\": false}`; vectors as `{\"type\": \"tensor\", \"base\": \"double\", \"dimensions\": [n]}` with values `{\"values\": [...], \"dimensions\": [n]}`). Columns the model does not read are kept. Vector inputs take dense or sparse MLeap tensors or plain arrays.",
                    "parameters": [name_param()],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LeapFrame"}}}},
                    "responses": scoring_errors(obj(json!({
                        "200": {
                            "description": "The frame with the outputs appended.",
                            "headers": model_headers(),
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LeapFrame"}}}
                        },
                        "400": error_response("Not a LeapFrame, or a row whose width differs from the schema's (`malformed_frame`)."),
                        "422": error_response("The model's schema refuses the input (as for predict), or an output would overwrite a column of the frame (`column_exists`).")
                    })))
                }
            },
            "/v1/admin/models": {
                "post": {
                    "summary": "Load a model",
                    "operationId": "loadModel",
                    "description": "Loads a bundle from a path on the server's disk (JSON body) or from the uploaded bytes, as the next version of its name. Needs `Authorization: Bearer <token>`; answers 403 `admin_disabled` when the server has no admin token.",
                    "security": [{"bearer": []}],
                    "requestBody": {"required": true, "content": {
                        "application/json": {"schema": {"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}}},
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                        "application/zip": {"schema": {"type": "string", "format": "binary"}},
                        "application/vnd.keel.bundle": {"schema": {"type": "string", "format": "binary"}}
                    }},
                    "responses": admin_errors(obj(json!({
                        "201": {"description": "Loaded.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Model"}}}},
                        "413": error_response("The upload is larger than the server's limit."),
                        "415": error_response("Neither JSON nor a bundle media type."),
                        "422": error_response("The path cannot be read (`unreadable_path`) or the bundle is invalid or cannot be planned (`invalid_bundle`).")
                    })))
                }
            },
            "/v1/admin/models/{name}": {
                "delete": {
                    "summary": "Unload a model",
                    "operationId": "unloadModel",
                    "description": "Unloads every version of `name`, or only `name@version`. Needs `Authorization: Bearer <token>`.",
                    "security": [{"bearer": []}],
                    "parameters": [name_param()],
                    "responses": admin_errors(obj(json!({
                        "200": {"description": "What was unloaded.", "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {"unloaded": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "version": {"type": "integer"}}}}}
                        }}}}
                    })))
                }
            },
            "/healthz": {"get": {
                "summary": "Liveness",
                "operationId": "healthz",
                "responses": {"200": {"description": "The process is up.", "content": {"application/json": {"schema": {"type": "object", "properties": {"status": {"type": "string", "enum": ["ok"]}}}}}}}
            }},
            "/readyz": {"get": {
                "summary": "Readiness",
                "operationId": "readyz",
                "description": "Ready when every configured model (the bundles on the command line and those in watched directories at startup, or the built-in demo bundles) is loaded. A broken replacement of a loaded file does not make the server unready: the previous version keeps serving.",
                "responses": {
                    "200": {"description": "Ready.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}},
                    "503": {"description": "Not ready; `waiting` lists the sources not loaded.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}}
                }
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "description": "OpenMetrics text: `keel_http_requests_total{method,route,status}`, `keel_model_requests_total`, `keel_model_rows_total` and the `keel_model_request_duration_seconds` histogram by `{model,version,endpoint}`, `keel_errors_total{code,model,version}`, `keel_models_loaded`, `keel_model_load_errors`, `keel_build_info{version}`.",
                "responses": {"200": {"description": "The metrics.", "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}}}
            }},
            "/": {"get": {
                "summary": "The web page",
                "operationId": "webPage",
                "description": "A page for people: lists the loaded models and load errors, draws a model's pipeline, and scores one row typed into a form generated from the input schema (defaults from the bundle's `keel.example` metadata), through this API. Self-contained: it loads nothing but `/ui/app.js`, `/ui/style.css` and this API. `Cache-Control: no-cache` with an `ETag`.",
                "responses": {
                    "200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}},
                    "304": {"description": "Not modified (`If-None-Match` names the current `ETag`)."}
                }
            }},
            "/ui/app.js": {"get": {
                "summary": "The web page's script",
                "operationId": "webScript",
                "description": "Immutable (cached for a year) when asked for with `?v=` the hash the page links; `no-cache` otherwise.",
                "parameters": [{"name": "v", "in": "query", "required": false, "description": "The content hash the page links.", "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "The script.", "content": {"text/javascript": {"schema": {"type": "string"}}}},
                    "304": {"description": "Not modified."}
                }
            }},
            "/ui/style.css": {"get": {
                "summary": "The web page's style sheet",
                "operationId": "webStyle",
                "description": "Cached like `/ui/app.js`.",
                "parameters": [{"name": "v", "in": "query", "required": false, "description": "The content hash the page links.", "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "The style sheet.", "content": {"text/css": {"schema": {"type": "string"}}}},
                    "304": {"description": "Not modified."}
                }
            }},
            "/playground": {"get": {
                "summary": "The playground (redirect)",
                "operationId": "playgroundRedirect",
                "description": "308 to `/playground/`, where the page's relative links resolve.",
                "responses": {"308": {"description": "Moved to `/playground/`."}}
            }},
            "/playground/": {"get": {
                "summary": "The playground",
                "operationId": "playgroundPage",
                "description": "With `--playground DIR` (keel's npm package, built by `wasm/build.sh DIR`): a page that opens a bundle the person picks and scores CSV or JSON rows with it in the browser's WebAssembly; nothing is sent to the server. Without the flag: 404 `no_playground`.",
                "responses": {
                    "200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}},
                    "304": {"description": "Not modified."},
                    "404": {"description": "The playground is not served (`no_playground`).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
            }},
            "/playground/{file}": {"get": {
                "summary": "A file of the playground's package",
                "operationId": "playgroundFile",
                "description": "The package's scripts and `keel_wasm_bg.wasm` (`application/wasm`); any other name is 404.",
                "parameters": [{"name": "file", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "The file."},
                    "304": {"description": "Not modified."},
                    "404": {"description": "Not a file of the package, or the playground is not served.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
            }},
            "/openapi.json": {"get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {"200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {"type": "object"}}}}}
            }}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string", "example": "missing_column"},
                            "message": {"type": "string"},
                            "column": {"type": "string", "nullable": true},
                            "row": {"type": "integer", "nullable": true, "description": "From 0, within the request."},
                            "request_id": {"type": "string", "nullable": true, "description": "The request's `x-request-id`, as in the server's log."}
                        }
                    }}
                },
                "Field": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "dtype": {"type": "string", "enum": ["f64", "f32", "i64", "i32", "bool", "utf8", "list<utf8>", "binary"], "description": "binary: bytes per row, base64 text in JSON bodies."},
                        "shape": {"type": "array", "items": {"type": "integer"}, "description": "[] for a scalar, [n] for a vector."},
                        "nullable": {"type": "boolean"},
                        "names": {"type": "array", "items": {"type": "string"}, "description": "Names of a vector's elements (class labels)."},
                        "doc": {"type": "string"}
                    }
                },
                "Node": {
                    "type": "object",
                    "description": "A stage of the pipeline graph. Attributes are summarised by kind (and length for lists, value for scalars and short string lists); arrays are never included.",
                    "properties": {
                        "name": {"type": "string"},
                        "op": {"type": "string"},
                        "doc": {"type": "string"},
                        "inputs": {"type": "array", "items": {"type": "object", "properties": {"port": {"type": "string"}, "columns": {"type": "array", "items": {"type": "string"}}}}},
                        "outputs": {"type": "array", "items": {"type": "object", "properties": {"port": {"type": "string"}, "columns": {"type": "array", "items": {"type": "string"}}}}},
                        "summary": {"type": "string", "nullable": true, "description": "the stage in a person's terms, e.g. \"50 trees · 3,050 nodes · depth ≤ 6 · 10 features\" (null when keel has none for the op)"},
                        "attrs": {"type": "object", "additionalProperties": {"type": "object", "properties": {"kind": {"type": "string"}, "len": {"type": "integer"}, "value": {}}}},
                        "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
                    }
                },
                "Model": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "integer"},
                        "versions": {"type": "array", "items": {"type": "integer"}, "description": "GET /v1/models/{name} only."},
                        "uid": {"type": "string"},
                        "created": {"type": "string"},
                        "format_version": {"type": "string"},
                        "encoding": {"type": "string"},
                        "producer": {"type": "object", "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "framework": {"type": "string"}, "framework_version": {"type": "string"}}},
                        "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/Field"}},
                        "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/Field"}},
                        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                        "graph": {"$ref": "#/components/schemas/Node"},
                        "backends": {"type": "array", "items": {"type": "string"}},
                        "source": {"type": "object", "properties": {"kind": {"type": "string", "enum": ["file", "embedded", "admin", "upload"]}, "path": {"type": "string", "nullable": true}}},
                        "loaded_at": {"type": "string", "format": "date-time"},
                        "sha256": {"type": "string"},
                        "size": {"type": "integer"}
                    }
                },
                "LoadError": {
                    "type": "object",
                    "properties": {"source": {"type": "string"}, "message": {"type": "string"}, "at": {"type": "string", "format": "date-time"}}
                },
                "Readiness": {
                    "type": "object",
                    "properties": {"ready": {"type": "boolean"}, "models": {"type": "integer"}, "waiting": {"type": "array", "items": {"type": "string"}}}
                },
                "RowsRequest": {
                    "type": "object",
                    "required": ["rows"],
                    "properties": {"rows": {"type": "array", "items": {"type": "object", "additionalProperties": true}}},
                    "example": {"rows": [{"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}]}
                },
                "ColumnsRequest": {
                    "type": "object",
                    "required": ["columns"],
                    "properties": {"columns": {"type": "object", "additionalProperties": {"type": "array", "items": {}}}}
                },
                "RowsAnswer": {
                    "type": "object",
                    "properties": {
                        "model": {"type": "string"},
                        "version": {"type": "integer"},
                        "rows": {"type": "array", "items": {"type": "object", "additionalProperties": true}}
                    }
                },
                "ColumnsAnswer": {
                    "type": "object",
                    "properties": {
                        "model": {"type": "string"},
                        "version": {"type": "integer"},
                        "columns": {"type": "object", "additionalProperties": {"type": "array", "items": {}}}
                    }
                },
                "LeapFrame": {
                    "type": "object",
                    "required": ["schema", "rows"],
                    "properties": {
                        "schema": {"type": "object", "properties": {"fields": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "type": {}}}}}},
                        "rows": {"type": "array", "items": {"type": "array", "items": {}}}
                    }
                }
            }
        }
    })
}
