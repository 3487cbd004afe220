package networkfile

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ethox/ethox/apperr"
)

// Node fields with a dedicated Node field. Anything else is kept in
// Node.Attributes; Validate rejects attributes that shadow these names so an
// encoder never has to choose between two values.
const (
	keyAgentID               = "agent_id"
	keyTraits                = "traits"
	keyProfile               = "profile"
	keyDegree                = "degree"
	keyCluster               = "cluster"
	keyDegreeCentrality      = "degree_centrality"
	keyBetweennessCentrality = "betweenness_centrality"
	keyAge                   = "age"
	keyGender                = "gender"
	keyTextOpinion           = "text_opinion"
	keyLevelOfCare           = "level_of_care"
	keyEffectOnUsage         = "effect_on_usage"
)

var builtinNodeKeys = map[string]struct{}{
	keyAgentID: {}, keyTraits: {}, keyProfile: {}, keyDegree: {}, keyCluster: {},
	keyDegreeCentrality: {}, keyBetweennessCentrality: {}, keyAge: {}, keyGender: {},
	keyTextOpinion: {}, keyLevelOfCare: {}, keyEffectOnUsage: {},
}

func bad(format string, args ...any) error {
	return apperr.New(apperr.BadInput, format, args...)
}

// Decode reads a network in the prototype's JSON format from r and validates
// it (see Validate).
//
// The input is streamed: the top-level object and the "nodes"/"edges" arrays
// are walked token by token with a json.Decoder and elements are decoded one
// at a time, so memory is proportional to the resulting Graph, not to the
// input text. Unknown top-level keys are skipped, unknown edge keys are
// dropped, unknown node keys are kept in Node.Attributes. Keys are matched
// exactly (case-sensitively); for duplicate keys the last one wins.
//
// Number rules: agent_id, source and target numbers become their decimal
// string ("7", 7.0 -> "7", 2.5 -> "2.5"; integer literals are kept verbatim so
// large ids stay exact); numbers inside Profile and Attributes become float64
// (so integers beyond 2^53 lose precision there). A JSON null for an optional
// node field or for weight means absent; weight defaults to 1.
//
// Only the first problem is reported. Per-element problems are reported in
// document order; cross-references between edges and nodes (unknown
// endpoints, self-loops, duplicate edges) are checked once the whole document
// has been read, because "edges" may precede "nodes" and "directed".
func Decode(r io.Reader) (*Graph, error) {
	d := decoder{dec: json.NewDecoder(r)}
	g, err := d.document()
	if err != nil {
		return nil, err
	}
	return g, nil
}

type decoder struct {
	dec   *json.Decoder
	index map[string]int // agent_id -> position in Graph.Nodes
	ends  [][2]int32     // per edge, endpoint positions resolved while decoding (-1: not resolved)
	dense bool           // every node i has agent_id "i" (networkx's default labels)
}

// jsonError turns a decoder failure into a BadInput error carrying the byte
// offset so that users can find the problem in a large upload.
func (d *decoder) jsonError(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return bad("invalid JSON at byte %d: %s", d.dec.InputOffset(), se.Error())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return bad("invalid JSON at byte %d: unexpected end of input", d.dec.InputOffset())
	default:
		// A failing reader (client gone, body too large) is still the
		// request's fault, not ours.
		return apperr.Wrap(apperr.BadInput, err, "reading input at byte %d", d.dec.InputOffset())
	}
}

func (d *decoder) document() (*Graph, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return nil, d.jsonError(err)
	}
	if tok != json.Delim('{') {
		return nil, bad("top-level value must be an object")
	}
	g := &Graph{}
	var haveNodes, haveEdges, haveDirected bool
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return nil, d.jsonError(err)
		}
		key, _ := tok.(string) // Token only yields strings in key position.
		switch key {
		case "nodes":
			if haveNodes {
				return nil, bad(`duplicate "nodes" key`)
			}
			haveNodes = true
			err = d.nodes(g)
		case "edges":
			if haveEdges {
				return nil, bad(`duplicate "edges" key`)
			}
			haveEdges = true
			err = d.edges(g)
		case "directed":
			if haveDirected {
				return nil, bad(`duplicate "directed" key`)
			}
			haveDirected = true
			err = d.directed(g)
		default:
			err = d.skipValue()
		}
		if err != nil {
			return nil, err
		}
	}
	if _, err := d.dec.Token(); err != nil { // the closing '}'
		return nil, d.jsonError(err)
	}
	end := d.dec.InputOffset()
	if _, err := d.dec.Token(); err != io.EOF {
		var se *json.SyntaxError
		if err != nil && !errors.As(err, &se) {
			return nil, d.jsonError(err)
		}
		return nil, bad("unexpected data after the top-level object (which ends at byte %d)", end)
	}
	if !haveNodes {
		return nil, bad(`missing "nodes" array`)
	}
	if !haveEdges {
		return nil, bad(`missing "edges" array`)
	}
	if err := checkEdges(g, d.index, d.ends); err != nil {
		return nil, err
	}
	return g, nil
}

// skipValue discards one value token by token, so an unknown key holding a
// huge value does not get buffered whole.
func (d *decoder) skipValue() error {
	depth := 0
	for {
		tok, err := d.dec.Token()
		if err != nil {
			return d.jsonError(err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

func (d *decoder) directed(g *Graph) error {
	var raw json.RawMessage
	if err := d.dec.Decode(&raw); err != nil {
		return d.jsonError(err)
	}
	switch string(trimSpace(raw)) {
	case "null", "false":
	case "true":
		g.Directed = true
	default:
		return bad(`"directed" must be a boolean`)
	}
	return nil
}

// openArray consumes the '[' of the value of key, or reports that the value
// is not an array.
func (d *decoder) openArray(key string) error {
	tok, err := d.dec.Token()
	if err != nil {
		return d.jsonError(err)
	}
	if tok != json.Delim('[') {
		return bad("%q must be an array", key)
	}
	return nil
}

// decodeElem decodes the next array element into v (a *nodeElem or
// *edgeElem, whose UnmarshalJSON returns path-prefixed errors).
//
// encoding/json does not expose where inside an element a syntax error is
// (SyntaxError.Offset from Decoder.Decode is not an input position), so the
// message names the element and the offset at which it starts instead.
func (d *decoder) decodeElem(v any, path string, i int) error {
	if err := d.dec.Decode(v); err != nil {
		var ae *apperr.Error
		var se *json.SyntaxError
		switch {
		case errors.As(err, &ae):
			return err
		case errors.As(err, &se):
			return bad("invalid JSON in %s[%d] (after byte %d): %s", path, i, d.dec.InputOffset(), se.Error())
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return bad("invalid JSON in %s[%d] (after byte %d): unexpected end of input", path, i, d.dec.InputOffset())
		}
		return d.jsonError(err)
	}
	return nil
}

func (d *decoder) nodes(g *Graph) error {
	if err := d.openArray("nodes"); err != nil {
		return err
	}
	d.index = make(map[string]int)
	d.dense = true
	elem := &nodeElem{} // reused, as in edges
	for i := 0; d.dec.More(); i++ {
		elem.i, elem.node = i, Node{}
		if err := d.decodeElem(elem, "nodes", i); err != nil {
			return err
		}
		g.Nodes = append(g.Nodes, elem.node)
		if err := checkNode(i, &g.Nodes[i], d.index); err != nil {
			return err
		}
		d.dense = d.dense && isIndexID(g.Nodes[i].AgentID, i)
	}
	if _, err := d.dec.Token(); err != nil { // the closing ']'
		return d.jsonError(err)
	}
	return nil
}

func (d *decoder) edges(g *Graph) error {
	if err := d.openArray("edges"); err != nil {
		return err
	}
	// elem escapes through the Decode interface; reusing it saves one
	// allocation per edge.
	elem := &edgeElem{nodes: g, index: d.index, dense: d.dense}
	for j := 0; d.dec.More(); j++ {
		elem.j, elem.edge = j, Edge{}
		if err := d.decodeElem(elem, "edges", j); err != nil {
			return err
		}
		g.Edges = append(g.Edges, elem.edge)
		if d.index != nil {
			d.ends = append(d.ends, elem.ends)
		}
	}
	if _, err := d.dec.Token(); err != nil { // the closing ']'
		return d.jsonError(err)
	}
	return nil
}

// nodeElem and edgeElem let json.Decoder find the end of one element (and
// check its syntax) while we parse the bytes ourselves; see jsonscan.go.
type nodeElem struct {
	i    int
	node Node
}

func (e *nodeElem) UnmarshalJSON(b []byte) (err error) {
	e.node, err = parseNode(e.i, trimSpace(b))
	return err
}

type edgeElem struct {
	j    int
	edge Edge
	// ends caches the node positions of source and target (-1 when not
	// resolved here) so checkEdges need not hash the ids again.
	ends  [2]int32
	nodes *Graph
	index map[string]int // nil while "nodes" has not been read
	dense bool           // see decoder.dense
}

func (e *edgeElem) UnmarshalJSON(b []byte) (err error) {
	e.ends = [2]int32{-1, -1}
	e.edge, err = parseEdge(e.j, trimSpace(b), e.intern)
	return err
}

// intern resolves the raw endpoint id v to a node, if it can do so cheaply,
// and returns that node's AgentID so edges share the node's string instead of
// each holding a copy: at 1M edges that is ~2M fewer small allocations and
// tens of MB. It only works once "nodes" has been read, the usual order.
// When ids are "0".."n-1" (networkx's default) the id is its own position,
// which skips a hash lookup per endpoint (the largest single cost of
// decoding 1M edges). Anything it cannot resolve goes the general way.
func (e *edgeElem) intern(end int, v []byte) (string, bool) {
	if e.index == nil {
		return "", false
	}
	if e.dense {
		raw := v
		if v[0] == '"' {
			raw = v[1 : len(v)-1]
		}
		if i, ok := decimalIndex(raw); ok && i < len(e.nodes.Nodes) {
			e.ends[end] = int32(i)
			return e.nodes.Nodes[i].AgentID, true
		}
	}
	if v[0] != '"' {
		return "", false
	}
	if _, escaped := stringEnd(v, 0); escaped {
		return "", false // the raw bytes are not the id; let idString decode it
	}
	if i, ok := e.index[string(v[1:len(v)-1])]; ok {
		e.ends[end] = int32(i)
		return e.nodes.Nodes[i].AgentID, true
	}
	return "", false
}

// decimalIndex parses b as a canonical non-negative decimal (no sign, no
// leading zeros, at most 9 digits so it fits int32).
func decimalIndex(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// isIndexID reports whether id is the decimal form of i, without allocating.
func isIndexID(id string, i int) bool {
	var buf [20]byte
	return string(strconv.AppendInt(buf[:0], int64(i), 10)) == id
}

// parseEdge reads one edge object. Keys are matched exactly; unknown keys
// (e.g. networkx's "key" in multigraphs) are ignored and, as in
// encoding/json, the last of duplicate keys wins.
func parseEdge(j int, b []byte, intern func(end int, v []byte) (string, bool)) (Edge, error) {
	e := Edge{Weight: 1}
	if b[0] != '{' {
		return e, bad("edges[%d] must be an object", j)
	}
	var src, tgt, weight []byte
	it := newMembers(b)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		switch string(k) {
		case "source":
			src = v
		case "target":
			tgt = v
		case "weight":
			weight = v
		}
	}
	var err error
	if e.Source, err = parseEndpoint(j, 0, src, intern); err != nil {
		return e, err
	}
	if e.Target, err = parseEndpoint(j, 1, tgt, intern); err != nil {
		return e, err
	}
	if weight != nil && !isNull(weight) {
		f, ok := parseFinite(weight)
		if !ok {
			return e, bad("edges[%d].weight must be a finite number", j)
		}
		e.Weight = f
	}
	return e, nil
}

func isNull(v []byte) bool { return v == nil || v[0] == 'n' }

func parseEndpoint(j, end int, v []byte, intern func(int, []byte) (string, bool)) (string, error) {
	key := [2]string{"source", "target"}[end]
	if isNull(v) {
		return "", bad("edges[%d].%s is missing", j, key)
	}
	if id, ok := intern(end, v); ok {
		return id, nil
	}
	id, err := idString(v)
	if err != nil {
		return "", bad("edges[%d].%s %s", j, key, err.Error())
	}
	return id, nil
}

var (
	errIDType  = errors.New("must be a string or a number")
	errIDRange = errors.New("must be a string or a finite number")
)

// idString converts a raw agent id (string or number) to its string form.
func idString(v []byte) (string, error) {
	switch {
	case v[0] == '"':
		return string(unquote(v)), nil
	case isNumber(v):
		return canonicalNumber(string(v))
	}
	return "", errIDType
}

// canonicalNumber renders a numeric id the way users expect to see it:
// integer literals verbatim (exact even beyond 2^53), integral floats
// without ".0" (7.0 -> "7"), others in shortest form (2.5 -> "2.5").
func canonicalNumber(s string) (string, error) {
	if !strings.ContainsAny(s, ".eE") {
		if s == "-0" {
			return "0", nil
		}
		return s, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", errIDRange
	}
	if f == 0 {
		return "0", nil // also folds -0.0
	}
	// Same switch-over points as JavaScript's Number#toString, so ids look
	// alike in the web client.
	if a := math.Abs(f); a >= 1e21 || a < 1e-6 {
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

// parseInteger accepts integral JSON numbers, including ones written as
// floats (9.0) by tools that round-trip through float columns.
func parseInteger(v []byte) (int, bool) {
	if !isNumber(v) {
		return 0, false
	}
	s := string(v)
	if x, err := strconv.ParseInt(s, 10, 0); err == nil {
		return int(x), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int(f), true
}

// nodeFields holds the raw values of the built-in node keys; the last of
// duplicate keys wins, as in encoding/json.
type nodeFields struct {
	agentID, traits, profile                   []byte
	degree, cluster, age                       []byte
	degreeCentrality, betweenness, levelOfCare []byte
	effectOnUsage, gender, textOpinion         []byte
	attrKeys                                   [][]byte
	attrVals                                   [][]byte
}

// parseNode reads one node object. Built-in fields are checked in a fixed
// order (agent_id, traits, profile, integers, numbers, strings) and then the
// other fields in document order, so the first error is deterministic.
func parseNode(i int, b []byte) (Node, error) {
	n := Node{Profile: map[string]any{}, Attributes: map[string]any{}}
	if b[0] != '{' {
		return n, bad("nodes[%d] must be an object", i)
	}
	var f nodeFields
	it := newMembers(b)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		switch string(k) {
		case keyAgentID:
			f.agentID = v
		case keyTraits:
			f.traits = v
		case keyProfile:
			f.profile = v
		case keyDegree:
			f.degree = v
		case keyCluster:
			f.cluster = v
		case keyAge:
			f.age = v
		case keyDegreeCentrality:
			f.degreeCentrality = v
		case keyBetweennessCentrality:
			f.betweenness = v
		case keyLevelOfCare:
			f.levelOfCare = v
		case keyEffectOnUsage:
			f.effectOnUsage = v
		case keyGender:
			f.gender = v
		case keyTextOpinion:
			f.textOpinion = v
		default:
			f.attrKeys = append(f.attrKeys, k)
			f.attrVals = append(f.attrVals, v)
		}
	}

	if isNull(f.agentID) {
		return n, bad("nodes[%d].agent_id is missing", i)
	}
	var err error
	if n.AgentID, err = idString(f.agentID); err != nil {
		return n, bad("nodes[%d].agent_id %s", i, err.Error())
	}

	if n.Traits, err = parseTraits(i, f.traits); err != nil {
		return n, err
	}

	if !isNull(f.profile) {
		if f.profile[0] != '{' {
			return n, bad("nodes[%d].profile must be an object", i)
		}
		p, path, ok := decodeAny(f.profile)
		if !ok {
			return n, bad("nodes[%d].profile%s must be a finite number", i, path)
		}
		n.Profile = p.(map[string]any)
	}

	// One allocation backs all optional scalars of a node instead of one
	// per field; it matters at 100k nodes.
	vals := new(struct {
		ints    [3]int
		floats  [4]float64
		strings [2]string
	})

	ints := [...]struct {
		key    string
		raw    []byte
		dst    **int
		nonNeg bool
	}{
		{keyDegree, f.degree, &n.Degree, true},
		{keyCluster, f.cluster, &n.Cluster, false},
		{keyAge, f.age, &n.Age, false},
	}
	for j, fld := range ints {
		if isNull(fld.raw) {
			continue
		}
		x, ok := parseInteger(fld.raw)
		switch {
		case fld.nonNeg && (!ok || x < 0):
			return n, bad("nodes[%d].%s must be a non-negative integer", i, fld.key)
		case !ok:
			return n, bad("nodes[%d].%s must be an integer", i, fld.key)
		}
		vals.ints[j] = x
		*fld.dst = &vals.ints[j]
	}

	floats := [...]struct {
		key string
		raw []byte
		dst **float64
	}{
		{keyDegreeCentrality, f.degreeCentrality, &n.DegreeCentrality},
		{keyBetweennessCentrality, f.betweenness, &n.BetweennessCentrality},
		{keyLevelOfCare, f.levelOfCare, &n.LevelOfCare},
		{keyEffectOnUsage, f.effectOnUsage, &n.EffectOnUsage},
	}
	for j, fld := range floats {
		if isNull(fld.raw) {
			continue
		}
		x, ok := parseFinite(fld.raw)
		if !ok {
			return n, bad("nodes[%d].%s must be a finite number", i, fld.key)
		}
		vals.floats[j] = x
		*fld.dst = &vals.floats[j]
	}

	strs := [...]struct {
		key string
		raw []byte
		dst **string
	}{
		{keyGender, f.gender, &n.Gender},
		{keyTextOpinion, f.textOpinion, &n.TextOpinion},
	}
	for j, fld := range strs {
		if isNull(fld.raw) {
			continue
		}
		if fld.raw[0] != '"' {
			return n, bad("nodes[%d].%s must be a string", i, fld.key)
		}
		vals.strings[j] = string(unquote(fld.raw))
		*fld.dst = &vals.strings[j]
	}

	for a, k := range f.attrKeys {
		v, path, ok := decodeAny(f.attrVals[a])
		if !ok {
			return n, bad("nodes[%d].%s%s must be a finite number", i, k, path)
		}
		n.Attributes[string(k)] = v
	}
	return n, nil
}

func parseTraits(i int, v []byte) (map[string]float64, error) {
	if isNull(v) {
		return map[string]float64{}, nil
	}
	if v[0] != '{' {
		return nil, bad("nodes[%d].traits must be an object", i)
	}
	traits := make(map[string]float64)
	it := newMembers(v)
	for k, raw, ok := it.next(); ok; k, raw, ok = it.next() {
		f, ok := parseFinite(raw)
		if !ok {
			return nil, bad("nodes[%d].traits.%s must be a finite number", i, k)
		}
		traits[string(k)] = f
	}
	return traits, nil
}
