package legacyapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/export"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/httpenc"
	"github.com/ethox/ethox/networkfile"
)

// metadata is the prototype's get_metadata(graph).
type metadata struct {
	NodeCount int      `json:"node_count"`
	EdgeCount int      `json:"edge_count"`
	TraitKeys []string `json:"trait_keys"`
}

type edgeOut struct {
	Source any     `json:"source"`
	Target any     `json:"target"`
	Weight float64 `json:"weight"`
}

type graphOut struct {
	Nodes    []map[string]any `json:"nodes"`
	Edges    []edgeOut        `json:"edges"`
	Metadata *metadata        `json:"metadata,omitempty"`
}

type neighborOut struct {
	AgentID string  `json:"agent_id"`
	Weight  float64 `json:"weight"`
	Degree  int     `json:"degree"`
}

// graphView is a stored graph in network.json's shape (export.NodeObject);
// with numeric, every id that is an integer is written as a JSON number, as
// the prototype's simulation endpoint did.
func graphView(g *graphstore.Graph, numeric bool) graphOut {
	ints := numeric && integerIDs(&g.Graph)
	out := graphOut{Nodes: make([]map[string]any, len(g.Nodes)), Edges: make([]edgeOut, len(g.Edges))}
	for i := range g.Nodes {
		n := export.NodeObject(&g.Nodes[i])
		if ints {
			n["agent_id"] = idValue(g.Nodes[i].AgentID)
		}
		out.Nodes[i] = n
	}
	for j, e := range g.Edges {
		out.Edges[j] = edgeOut{Source: e.Source, Target: e.Target, Weight: e.Weight}
		if ints {
			out.Edges[j].Source, out.Edges[j].Target = idValue(e.Source), idValue(e.Target)
		}
	}
	return out
}

// integerIDs reports whether every agent id is an integer written plainly
// ("0", "17", not "007" or "1e3"), so that it survives the round trip.
func integerIDs(g *networkfile.Graph) bool {
	for i := range g.Nodes {
		if _, ok := plainInt(g.Nodes[i].AgentID); !ok {
			return false
		}
	}
	return true
}

func plainInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return n, true
}

func idValue(s string) any {
	if n, ok := plainInt(s); ok {
		return n
	}
	return s
}

// graph is GET /api/graph/: the default network; with none, an empty graph.
func (h *handler) graph(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r, "") {
		return
	}
	g, err := h.o.Graphs.LoadGraph(r.Context(), nil)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Encoded once per network and kept with it (a network never changes),
	// with its ETag and compressed forms.
	body, err := g.Body(graphBodyKey, func() ([]byte, error) {
		out := graphView(g, false)
		out.Metadata = &metadata{NodeCount: len(g.Nodes), EdgeCount: len(g.Edges), TraitKeys: nonNil(g.TraitKeys)}
		return json.Marshal(out)
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body.Serve(w, r, "application/json", true)
}

// graphBodyKey names /api/graph/'s body among a graph's kept responses (the
// GraphQL fast path's keys are selections, which never contain a slash).
const graphBodyKey = "/api/graph/"

// node is GET /api/nodes/<agent_id>/ on the default network.
func (h *handler) node(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r, "") {
		return
	}
	id := r.PathValue("agent_id")
	if strings.ContainsRune(id, 0) || !utf8.ValidString(id) {
		// No stored id is (uploads refuse them), and PostgreSQL refuses such text.
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	d, err := h.o.Graphs.Agent(r.Context(), id, nil)
	if apperr.KindOf(err) == apperr.NotFound {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	nb := make([]neighborOut, len(d.Neighbors))
	for i, n := range d.Neighbors {
		nb[i] = neighborOut{AgentID: n.AgentID, Weight: n.Weight, Degree: n.Degree}
	}
	b, err := json.Marshal(map[string]any{"node": export.NodeObject(&d.Node), "neighbors": nb})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpenc.NewBody(b).Serve(w, r, "application/json", true)
}

// uploadMemory is how much of an upload is held in memory; the rest is
// spooled to a temporary file (as the GraphQL multipart transport does).
const uploadMemory = 32 << 20

// upload is POST /api/graph/upload/: uploadGraph's import (graphstore.ImportFile:
// the same validation, MAX_CONCURRENT_IMPORTS) of the form's "file" part. The
// token is checked before the body is read, and the whole body is read before
// an import slot is taken, so a slow client holds none.
func (h *handler) upload(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r, "uploadGraph") {
		return
	}
	limit := h.o.MaxUploadBytes
	if limit > 0 {
		if r.ContentLength > limit {
			writeDetail(w, http.StatusRequestEntityTooLarge, tooLarge("MAX_UPLOAD_BYTES", limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/form-data") {
		writeDetail(w, http.StatusBadRequest, msgNoFile)
		return
	}
	err := r.ParseMultipartForm(uploadMemory)
	if r.MultipartForm != nil {
		defer func() { _ = r.MultipartForm.RemoveAll() }()
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeDetail(w, http.StatusRequestEntityTooLarge, tooLarge("MAX_UPLOAD_BYTES", limit))
		return
	case err != nil:
		writeDetail(w, http.StatusBadRequest, "the multipart body could not be read")
		return
	}
	files := r.MultipartForm.File["file"]
	if len(files) == 0 {
		writeDetail(w, http.StatusBadRequest, msgNoFile)
		return
	}
	f, err := files[0].Open()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	name := files[0].Filename
	if name == "" {
		name = "network " + time.Now().UTC().Format(time.RFC3339) // as uploadGraph names a file without a name
	}
	n, err := h.o.Graphs.ImportFile(r.Context(), f, graphstore.ImportOptions{Name: name, Source: graphstore.Uploaded})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeOK(w, r, map[string]any{"detail": msgUploaded, "metadata": networkMetadata(n)})
}

func networkMetadata(n *ent.Network) metadata {
	return metadata{NodeCount: n.NodeCount, EdgeCount: n.EdgeCount, TraitKeys: nonNil(n.TraitKeys)}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
