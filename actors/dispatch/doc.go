// Package dispatch holds the dispatcher, the observer's single router:
// Dispatcher (New) receives *messages.Event / *messages.EventBatch and
// *messages.Flush from sources; counts every event, deduplicates by
// source:type[:path][:unit] within a window (operational and critical errors
// exempt), publishes each batch with its dedup verdict on the observation
// stream (where the spool takes it), and routes what passed to the rules
// subscribed to its type. A Flush barrier goes to every rule and every
// barrier subscriber of the stream and is answered once all answered. It
// owns no goroutine or timer.
package dispatch
