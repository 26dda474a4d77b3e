// Package statusrec records the status code a handler wrote, for the request log and metrics.
package statusrec

import "net/http"

// Writer wraps a ResponseWriter and remembers the status.
type Writer struct {
	http.ResponseWriter
	Status int
	Wrote  bool
}

// New wraps w; the status is 200 until the handler says otherwise.
func New(w http.ResponseWriter) *Writer { return &Writer{ResponseWriter: w, Status: http.StatusOK} }

// WriteHeader records the first status.
func (s *Writer) WriteHeader(code int) {
	if !s.Wrote {
		s.Status, s.Wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *Writer) Write(b []byte) (int, error) {
	s.Wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *Writer) Unwrap() http.ResponseWriter { return s.ResponseWriter }
