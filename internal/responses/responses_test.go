package responses

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3/responses"

	"github.com/janhq/jan/internal/inference"
)

func TestParseRequest(t *testing.T) {
	r, err := ParseRequest([]byte(`{"model":"m","input":"hi","instructions":"be brief","temperature":0.5,
		"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}],"tool_choice":{"type":"function","name":"get_weather"},
		"text":{"format":{"type":"json_schema","name":"w","schema":{"type":"object"}}},"metadata":{"k":"v"},"background":true,"conversation":{"id":"conv_1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Model != "m" || len(r.Input) != 1 || r.Input[0].Text != "hi" || r.Input[0].Role != "user" || *r.Instructions != "be brief" ||
		*r.Temperature != 0.5 || len(r.Tools) != 1 || r.Format.Name != "w" || r.Metadata["k"] != "v" || !r.Background || !r.Store || r.Conversation != "conv_1" {
		t.Fatalf("parsed %+v", r)
	}
	for _, c := range []struct{ body, param, code string }{
		{`{"input":"hi"}`, "model", "missing_field"},
		{`{"model":"m"}`, "input", "missing_field"},
		{`{"model":"m","input":""}`, "input", "empty_input"},
		{`{"model":"m","input":[]}`, "input", "empty_input"},
		{`{"model":"m","input":[{"type":"web_search_call"}]}`, "input[0].type", "unknown_item_type"},
		{`{"model":"m","input":[{"role":"robot","content":"x"}]}`, "input[0].role", "invalid_role"},
		{`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"x"}]}]}`, "input[0].content[0].type", "unsupported_content"},
		{`{"model":"m","input":[{"type":"function_call_output","output":"x"}]}`, "input[0].call_id", "missing_field"},
		{`{"model":"m","input":"x","previous_response_id":"resp_1","conversation":"conv_1"}`, "conversation", "conflicting_fields"},
		{`{"model":"m","input":"x","background":true,"store":false}`, "background", "invalid_value"},
		{`{"model":"m","input":"x","temperature":3}`, "temperature", "invalid_value"},
		{`{"model":"m","input":"x","tools":[{"type":"web_search"}]}`, "tools[0].type", "unsupported_tool"},
		{`{"model":"m","input":"x","tool_choice":"sometimes"}`, "tool_choice", "invalid_value"},
		{`{"model":"m","input":"x","text":{"format":{"type":"yaml"}}}`, "text.format.type", "invalid_value"},
		{`{"model":"m","input":"a\u0000b"}`, "input", "invalid_text"},
		{`{"model":"m","input":"x","metadata":{"k":"\u0000"}}`, "metadata", "invalid_text"},
		{`[1]`, "", "invalid_json"},
	} {
		_, err := ParseRequest([]byte(c.body))
		fe, ok := err.(*FieldError)
		if !ok || fe.Param != c.param || fe.Code != c.code {
			t.Errorf("%s: %v, want %s on %q", c.body, err, c.code, c.param)
		}
	}
}

// Items go to chat messages: instructions first, function calls grouped
// into one assistant message with tool_calls, outputs as tool messages.
func TestMessages(t *testing.T) {
	items := []Item{
		{Type: TypeMessage, Role: "user", Text: "weather in Paris and the time?"},
		{Type: TypeFunctionCall, CallID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
		{Type: TypeFunctionCall, CallID: "call_2", Name: "get_time", Arguments: `{}`},
		{Type: TypeFunctionCallOutput, CallID: "call_1", Output: "sunny"},
		{Type: TypeFunctionCallOutput, CallID: "call_2", Output: "noon"},
		{Type: TypeMessage, Role: "assistant", Text: "Sunny at noon."},
	}
	var got []string
	for _, m := range Messages("be brief", items) {
		got = append(got, string(m))
	}
	want := []string{
		`{"content":"be brief","role":"system"}`,
		`{"content":"weather in Paris and the time?","role":"user"}`,
		`{"content":null,"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]}`,
		`{"content":"sunny","role":"tool","tool_call_id":"call_1"}`,
		`{"content":"noon","role":"tool","tool_call_id":"call_2"}`,
		`{"content":"Sunny at noon.","role":"assistant"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("messages:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// And items survive their JSON (how the store keeps them).
	for _, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		var back Item
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		back.Status = ""
		if back != it {
			t.Errorf("round trip of %s: %+v, want %+v", b, back, it)
		}
	}
}

func TestEngineRequest(t *testing.T) {
	r, err := ParseRequest([]byte(`{"model":"m","input":"x","max_output_tokens":50,"parallel_tool_calls":false,
		"tools":[{"type":"function","name":"f","description":"d","parameters":{"type":"object"},"strict":true}],
		"tool_choice":{"type":"function","name":"f"},"text":{"format":{"type":"json_schema","name":"s","schema":{"type":"object"},"strict":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := EngineRequest(r, Messages("", r.Input), "served/m")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	want := `{"max_tokens":50,"messages":[{"content":"x","role":"user"}],"model":"served/m","parallel_tool_calls":false,` +
		`"response_format":{"json_schema":{"name":"s","schema":{"type":"object"},"strict":true},"type":"json_schema"},"stream":true,` +
		`"stream_options":{"include_usage":true},"tool_choice":{"function":{"name":"f"},"type":"function"},` +
		`"tools":[{"function":{"description":"d","name":"f","parameters":{"type":"object"},"strict":true},"type":"function"}]}`
	if canon, _ := json.Marshal(got); string(canon) != want {
		t.Errorf("engine request:\n%s\nwant\n%s", canon, want)
	}
	r.Format = &Format{Type: "json_object"}
	b, _ = EngineRequest(r, nil, "m")
	if !strings.Contains(string(b), `"response_format":{"type":"json_object"}`) {
		t.Errorf("json_object: %s", b)
	}
}

// A streamed answer with text and a tool call: events numbered 0..n, the
// deltas add up to the text, indexes as OpenAI's, and the SDK reads every
// event and the final response.
func TestStream(t *testing.T) {
	for _, transient := range []bool{false, true} {
		t.Run(fmt.Sprint("transient=", transient), func(t *testing.T) { testStream(t, transient) })
	}
}

// testStream checks the events of one answer; a transient stream's are
// copied as they come, as a client connection takes them.
func testStream(t *testing.T, transient bool) {
	n := 0
	s := NewStream(func(p string) string { n++; return fmt.Sprintf("%s_%d", p, n) })
	s.Transient = transient
	var evs []Event
	evs = append(evs, s.Begin(json.RawMessage(`{"id":"resp_1","object":"response","status":"in_progress","output":[]}`))...)
	var acc inference.Accumulator
	for _, chunk := range []string{
		`{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"Let me \"check\""}}]}`,
		`{"choices":[{"index":0,"delta":{"content":" the weather."}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_9","function":{"name":"get_weather","arguments":"{\"city\":"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
	} {
		if err := acc.AddChunk([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
		for _, ev := range s.Add(&acc) {
			ev.Data = bytes.Clone(ev.Data)
			evs = append(evs, ev)
		}
	}
	evs = append(evs, s.Close(StatusCompleted)...)
	final, _ := json.Marshal(Object{ID: "resp_1", Status: StatusCompleted, Model: "m", Output: s.Output(), Usage: &Usage{3, 4}})
	evs = append(evs, s.End(EventCompleted, final))

	var types []string
	var deltas strings.Builder
	for i, ev := range evs {
		if ev.Seq != i {
			t.Fatalf("event %d has sequence number %d", i, ev.Seq)
		}
		var u responses.ResponseStreamEventUnion
		if err := json.Unmarshal(ev.Data, &u); err != nil || u.Type != ev.Type || int(u.SequenceNumber) != i {
			t.Fatalf("event %d %s: the SDK reads %q #%d, %v", i, ev.Data, u.Type, u.SequenceNumber, err)
		}
		if u.Type == "response.output_text.delta" {
			deltas.WriteString(u.AsResponseOutputTextDelta().Delta)
		}
		types = append(types, ev.Type)
	}
	wantTypes := []string{"response.created", "response.in_progress",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.function_call_arguments.done", "response.output_item.done", "response.completed"}
	if strings.Join(types, " ") != strings.Join(wantTypes, " ") {
		t.Fatalf("event types:\n%s\nwant\n%s", strings.Join(types, " "), strings.Join(wantTypes, " "))
	}
	if deltas.String() != `Let me "check" the weather.` || s.Text() != deltas.String() {
		t.Errorf("deltas %q, text %q", deltas.String(), s.Text())
	}
	// The shapes, exactly: annotations on output text, the calls' places.
	for i, want := range map[int]string{
		2:  `{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"type":"message","id":"msg_1","status":"in_progress","role":"assistant","content":[]}}`,
		3:  `{"type":"response.content_part.added","sequence_number":3,"item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}}`,
		4:  `{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Let me \"check\"","logprobs":[]}`,
		7:  `{"type":"response.function_call_arguments.delta","sequence_number":7,"item_id":"fc_2","output_index":1,"delta":"{\"city\":"}`,
		9:  `{"type":"response.output_text.done","sequence_number":9,"item_id":"msg_1","output_index":0,"content_index":0,"text":"Let me \"check\" the weather.","logprobs":[]}`,
		11: `{"type":"response.output_item.done","sequence_number":11,"output_index":0,"item":{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Let me \"check\" the weather.","annotations":[]}]}}`,
		12: `{"type":"response.function_call_arguments.done","sequence_number":12,"item_id":"fc_2","output_index":1,"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}`,
	} {
		if string(evs[i].Data) != want {
			t.Errorf("event %d:\n%s\nwant\n%s", i, evs[i].Data, want)
		}
	}
	var resp responses.Response
	if err := json.Unmarshal(final, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.OutputText() != deltas.String() || len(resp.Output) != 2 || resp.Output[1].AsFunctionCall().CallID != "call_9" ||
		resp.Output[1].AsFunctionCall().Arguments != `{"city":"Paris"}` || resp.Usage.TotalTokens != 7 || resp.Output[0].ID != "msg_1" {
		t.Errorf("the SDK reads the final response as %+v", resp)
	}
}
