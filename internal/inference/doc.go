// Package inference owns everything between jan and the model engines: the
// provider registry (providers.yaml plus auto-detected local engines), the
// OpenAI-compatible upstream client, the SSE event reader, the stream
// accumulator and public model id <-> served name rewriting.
//
// It knows nothing about jan's users, conversations or HTTP handlers; the
// server hands it request bodies and gets back upstream responses or *Error.
package inference
