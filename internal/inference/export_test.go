package inference

// Buffering reports whether r holds a read buffer (it gives it back while
// it waits for the next event with nothing unread).
func Buffering(r *EventReader) bool { return r.br != nil }

// SetModelOfValid is what Post uses: SetModel without the validation.
var SetModelOfValid = setModel
