package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ethox/ethox/apperr"
)

// codedTransport wraps a gqlgen HTTP transport so that its own transport-level
// errors (an undecodable body, a broken multipart form, a body over the limit)
// carry extensions.code like every other error. gqlgen writes them without one.
type codedTransport struct {
	graphql.Transport
	limit int64 // request body limit in bytes; 0 for none
	name  string
	// spool copies a body of unknown length to a temporary file first:
	// gqlgen keeps every file of a request in memory when its
	// Content-Length is below MaxMemory, and -1 (chunked) is.
	spool bool
}

func (t codedTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if t.limit > 0 {
		if r.ContentLength > t.limit {
			writeError(w, http.StatusRequestEntityTooLarge, apperr.BadInput,
				fmt.Sprintf("request body of %d bytes exceeds %s (%d bytes)", r.ContentLength, t.name, t.limit))
			return
		}
	}
	lb := &limitedBody{ReadCloser: r.Body, left: t.limit}
	if t.limit > 0 {
		r.Body = lb
	}
	if t.spool && r.ContentLength < 0 {
		f, n, err := spoolBody(r.Body)
		if err != nil {
			if lb.exceeded {
				writeError(w, http.StatusRequestEntityTooLarge, apperr.BadInput, fmt.Sprintf("request body exceeds %s (%d bytes)", t.name, t.limit))
			} else {
				writeError(w, http.StatusBadRequest, apperr.BadInput, "the request body could not be read")
			}
			return
		}
		defer f.Close()
		r.Body, r.ContentLength = f, n
	}
	rw := &errorRewriter{ResponseWriter: w, exceeded: func() bool { return lb.exceeded }}
	t.Transport.Do(rw, r, exec)
	if !rw.rewriting {
		return
	}
	msg := ""
	if lb.exceeded {
		msg = fmt.Sprintf("request body exceeds %s (%d bytes)", t.name, t.limit)
	}
	rw.flush(msg, t.name)
}

var errBodyTooLarge = errors.New("request body too large")

// spoolBody copies body to an unlinked temporary file and rewinds it.
func spoolBody(body io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "ethox-upload-*")
	if err != nil {
		return nil, 0, err
	}
	_ = os.Remove(f.Name()) // gone from the directory at once; the space is freed on Close
	n, err := io.Copy(f, body)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, n, nil
}

// limitedBody fails a read past the limit while the body is being read, so an
// oversized upload is refused without being buffered first.
type limitedBody struct {
	io.ReadCloser
	left     int64
	exceeded bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		b.exceeded = true
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.exceeded = true
		return n, errBodyTooLarge
	}
	return n, err
}

// errorRewriter passes successful responses through and holds back error
// responses (status >= 400) so codes can be added before they are written.
type errorRewriter struct {
	http.ResponseWriter
	exceeded    func() bool // the body limit tripped: rewrite whatever status gqlgen chose
	rewriting   bool
	status      int
	wroteHeader bool
	buf         bytes.Buffer
}

func (w *errorRewriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	if w.exceeded() {
		w.rewriting, w.status = true, http.StatusRequestEntityTooLarge
		return
	}
	if code >= 400 {
		w.rewriting, w.status = true, code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *errorRewriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.rewriting {
		return w.buf.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

func (w *errorRewriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.rewriting {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (SSE streams
// clear the read deadline and flush through it).
func (w *errorRewriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// flush writes the held-back error with codes; override replaces messages
// that do not already name the limit (setting).
func (w *errorRewriter) flush(override, setting string) {
	var resp graphql.Response
	if err := json.Unmarshal(w.buf.Bytes(), &resp); err != nil || len(resp.Errors) == 0 {
		w.ResponseWriter.WriteHeader(w.status)
		_, _ = w.ResponseWriter.Write(w.buf.Bytes())
		return
	}
	named := false
	for _, e := range resp.Errors {
		named = named || (setting != "" && strings.Contains(e.Message, setting))
	}
	for _, e := range resp.Errors {
		if override != "" && !named {
			e.Message = override
		}
		if e.Extensions == nil {
			e.Extensions = map[string]any{}
		}
		if _, ok := e.Extensions["code"]; !ok || (override != "" && !named) {
			e.Extensions["code"] = apperr.BadInput.String()
		}
	}
	// A request error: no data entry (GraphQL-over-HTTP).
	b, _ := json.Marshal(struct {
		Errors     gqlerror.List  `json:"errors"`
		Extensions map[string]any `json:"extensions,omitempty"`
	}{resp.Errors, resp.Extensions})
	w.ResponseWriter.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(b)
}

func writeError(w http.ResponseWriter, status int, kind apperr.Kind, msg string) {
	b, _ := json.Marshal(map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": kind.String()}}},
	}) // a request error: no data entry (GraphQL-over-HTTP)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// maxUploadFiles bounds the files of one multipart request: each is a part
// read in full (or spooled to disk) before the operation runs.
const maxUploadFiles = 64

// multipartForm serves the GraphQL multipart request spec (jaydenseric,
// v2.1.0) with the GraphQL-over-HTTP draft's Accept negotiation and request
// errors (serveOperation). Hand-written on mime/multipart: gqlgen's
// MultipartForm answers a broken form with 422 (or 200 and "data": null),
// without codes or the part at fault, and panics on some map paths.
type multipartForm struct {
	maxMemory int64 // a request shorter than this keeps its files in memory; others go to temporary files
	maxJSON   int64 // the "operations" and "map" parts (MAX_BODY_BYTES); 0 for none
	limit     int64 // the whole request (MAX_UPLOAD_BYTES), to name it
}

func (multipartForm) Supports(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && r.Header.Get("Upgrade") == "" && r.Method == http.MethodPost && mt == "multipart/form-data"
}

// formError is a malformed multipart request: 400, or 413 for a size limit.
type formError struct {
	status int
	msg    string
}

func (e *formError) Error() string { return e.msg }

func badForm(format string, args ...any) error {
	return &formError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func (f multipartForm) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	mediaType, ok := negotiate(r)
	if !ok {
		notAcceptable(w)
		return
	}
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	params, err := f.read(r, &closers)
	if err != nil {
		fe := &formError{status: http.StatusBadRequest, msg: err.Error()}
		errors.As(err, &fe)
		writeError(w, fe.status, apperr.BadInput, fe.msg)
		return
	}
	params.Headers = r.Header
	start := graphql.Now()
	params.ReadTime = graphql.TraceTiming{Start: start, End: start}
	serveOperation(w, r, exec, params, mediaType)
}

// read parses the form: "operations", then "map", then one part per file
// the map names, each file set at its paths in the variables.
func (f multipartForm) read(r *http.Request, closers *[]io.Closer) (*graphql.RawParams, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badForm("the multipart form could not be read: its Content-Type needs a boundary")
	}
	part, err := f.next(mr, `"operations"`)
	if err != nil {
		return nil, err
	}
	if part.FormName() != "operations" {
		return nil, badForm(`the first part of a multipart request must be "operations" (the GraphQL request as JSON), not %q`, part.FormName())
	}
	body, err := f.readJSON(part)
	if err != nil {
		return nil, err
	}
	var params graphql.RawParams
	if err := decodeParams(body, &params); err != nil {
		return nil, badForm(`part "operations": %s`, strings.Replace(err.Error(), "the request body", "it", 1))
	}
	if part, err = f.next(mr, `"map"`); err != nil {
		return nil, err
	}
	if part.FormName() != "map" {
		return nil, badForm(`the second part of a multipart request must be "map" (file keys to variable paths), not %q`, part.FormName())
	}
	if body, err = f.readJSON(part); err != nil {
		return nil, err
	}
	var files map[string][]string
	if err := json.Unmarshal(body, &files); err != nil || files == nil {
		return nil, badForm(`part "map" must be a JSON object of file keys to arrays of paths, like {"0": ["variables.file"]}`)
	}
	if len(files) > maxUploadFiles {
		return nil, badForm(`part "map" names %d files; at most %d are allowed in one request`, len(files), maxUploadFiles)
	}
	// Paths are checked before any file is read.
	for _, key := range slices.Sorted(maps.Keys(files)) {
		if len(files[key]) == 0 {
			return nil, badForm(`part "map": file %q has no paths`, key)
		}
		for _, path := range files[key] {
			if err := setUpload(params.Variables, path, graphql.Upload{}); err != nil {
				return nil, badForm(`part "map": path %q of file %q: %s`, path, key, err)
			}
		}
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, f.broken(err, "after the files read so far")
		}
		key := part.FormName()
		paths, ok := files[key]
		if !ok {
			return nil, badForm(`part %q is not a file named in "map" (or appears twice)`, key)
		}
		delete(files, key)
		size, open, err := f.keep(r, part, closers)
		if err != nil {
			return nil, f.broken(err, fmt.Sprintf("in file part %q", key))
		}
		for _, path := range paths {
			_ = setUpload(params.Variables, path, graphql.Upload{File: open(), Size: size, Filename: part.FileName(), ContentType: part.Header.Get("Content-Type")})
		}
	}
	if len(files) > 0 {
		return nil, badForm(`file %q named in "map" has no part in the form`, slices.Sorted(maps.Keys(files))[0])
	}
	return &params, nil
}

// next reads the next part, which must exist.
func (f multipartForm) next(mr *multipart.Reader, want string) (*multipart.Part, error) {
	part, err := mr.NextPart()
	if err == io.EOF {
		return nil, badForm("the multipart form has no %s part", want)
	}
	if err != nil {
		return nil, f.broken(err, "before its "+want+" part")
	}
	return part, nil
}

// broken describes a form that ends early or breaks the multipart syntax,
// or a request over MAX_UPLOAD_BYTES (413).
func (f multipartForm) broken(err error, where string) error {
	if errors.Is(err, errBodyTooLarge) {
		return &formError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("the multipart request exceeds MAX_UPLOAD_BYTES (%d bytes) %s", f.limit, where)}
	}
	return badForm("the multipart form is malformed or cut short %s", where)
}

func (f multipartForm) readJSON(part *multipart.Part) ([]byte, error) {
	var r io.Reader = part
	if f.maxJSON > 0 {
		r = io.LimitReader(part, f.maxJSON+1)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, f.broken(err, fmt.Sprintf("in part %q", part.FormName()))
	}
	if f.maxJSON > 0 && int64(len(b)) > f.maxJSON {
		return nil, &formError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("part %q exceeds MAX_BODY_BYTES (%d bytes)", part.FormName(), f.maxJSON)}
	}
	return b, nil
}

// keep reads a file part into memory, or a temporary file for a large
// request, and returns a function that opens a reader over it (one per path).
func (f multipartForm) keep(r *http.Request, part *multipart.Part, closers *[]io.Closer) (int64, func() io.ReadSeeker, error) {
	if r.ContentLength >= 0 && r.ContentLength < f.maxMemory {
		b, err := io.ReadAll(part)
		if err != nil {
			return 0, nil, err
		}
		return int64(len(b)), func() io.ReadSeeker { return bytes.NewReader(b) }, nil
	}
	tmp, n, err := spoolBody(part)
	if err != nil {
		return 0, nil, err
	}
	*closers = append(*closers, tmp)
	return n, func() io.ReadSeeker { return io.NewSectionReader(tmp, 0, n) }, nil
}

// setUpload puts an upload at a map path ("variables.file",
// "variables.files.1") where operations holds a null. gqlgen's
// RawParams.AddUpload panics on a path through the wrong kind of value.
func setUpload(vars map[string]any, path string, upload graphql.Upload) error {
	segs := strings.Split(path, ".")
	if len(segs) < 2 || segs[0] != "variables" {
		return errors.New(`a path must start with "variables." (batched operations are not supported)`)
	}
	var cur any = vars
	for i, seg := range segs[1:] {
		last := i == len(segs)-2
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[seg]
			if !ok {
				return fmt.Errorf("operations has no variable at %q", strings.Join(segs[:i+2], "."))
			}
			if last {
				if v != nil {
					if _, isUpload := v.(graphql.Upload); !isUpload {
						return errors.New("operations must hold null where a file goes")
					}
				}
				c[seg] = upload
				return nil
			}
			cur = v
		case []any:
			n, err := strconv.Atoi(seg)
			if err != nil || n < 0 || n >= len(c) {
				return fmt.Errorf("%q is not an index of the list at %q", seg, strings.Join(segs[:i+1], "."))
			}
			if last {
				if c[n] != nil {
					if _, isUpload := c[n].(graphql.Upload); !isUpload {
						return errors.New("operations must hold null where a file goes")
					}
				}
				c[n] = upload
				return nil
			}
			cur = c[n]
		default:
			return fmt.Errorf("%q is not an object or a list in operations", strings.Join(segs[:i+1], "."))
		}
	}
	return nil
}
