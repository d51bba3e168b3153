package httpapi

import _ "embed"

// OrchestratorOpenAPI is the orchestrator's contract, served at
// /openapi.yaml by its local server.
//
//go:embed openapi/orchestrator.yaml
var OrchestratorOpenAPI []byte
