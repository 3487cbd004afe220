package api_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
)

func download(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestExports(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		id := e.mustUpload(readFixture(t, "ethox-network-20.json"), "original").UploadGraph.Network.ID
		var links struct {
			Node struct {
				Exports struct{ NetworkJSON, Graphml string }
			}
		}
		e.query(`query($id: ID!) { node(id: $id) { ... on Network { exports { networkJson graphml } } } }`, map[string]any{"id": id}).decode(t, &links)

		// network.json re-uploads to the same graph, field by field and edge by edge.
		status, doc := download(t, e.url+links.Node.Exports.NetworkJSON)
		if status != http.StatusOK {
			t.Fatalf("network.json: %d %s", status, doc)
		}
		again := e.mustUpload(doc, "re-uploaded").UploadGraph.Network.ID
		if a, b := e.graphJSON(id), e.graphJSON(again); a != b {
			t.Fatalf("re-uploaded export differs:\n%.300s\n%.300s", a, b)
		}

		// GraphML is well-formed with every node and edge.
		status, gml := download(t, e.url+links.Node.Exports.Graphml)
		nodes, edges := 0, 0
		dec := xml.NewDecoder(bytes.NewReader(gml))
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("GraphML is not well-formed: %v", err)
			}
			if se, ok := tok.(xml.StartElement); ok {
				switch se.Name.Local {
				case "node":
					nodes++
				case "edge":
					edges++
				}
			}
		}
		if status != http.StatusOK || nodes != 20 || edges != 52 {
			t.Fatalf("GraphML: status %d, %d nodes, %d edges", status, nodes, edges)
		}

		// A run's states as CSV and JSON Lines.
		var run struct{ RunSimulation struct{ ID string } }
		e.query(`mutation { runSimulation(input: {trigger: "Export me.", engine: DEGROOT, rounds: 2}) { id } }`, nil).decode(t, &run)
		waitDone(t, e, run.RunSimulation.ID)
		var sl struct {
			Simulation struct {
				Exports struct{ StatesCsv, StatesJsonl string }
			}
		}
		e.query(`query($id: ID!) { simulation(id: $id) { exports { statesCsv statesJsonl } } }`, map[string]any{"id": run.RunSimulation.ID}).decode(t, &sl)
		_, csvBody := download(t, e.url+sl.Simulation.Exports.StatesCsv)
		records, err := csv.NewReader(bytes.NewReader(csvBody)).ReadAll()
		if err != nil || len(records) != 61 || records[0][0] != "agent_id" || records[1][1] != "0" {
			t.Fatalf("CSV: %d records, %v", len(records), err)
		}
		_, jl := download(t, e.url+sl.Simulation.Exports.StatesJsonl)
		lines := 0
		sc := bufio.NewScanner(bytes.NewReader(jl))
		for sc.Scan() {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil || row["agent_id"] == nil {
				t.Fatalf("JSON line %q: %v", sc.Text(), err)
			}
			lines++
		}
		if lines != 60 {
			t.Fatalf("%d JSON lines, want 60", lines)
		}

		if status, _ := download(t, e.url+"/exports/networks/12884901999/network.json"); status != http.StatusNotFound {
			t.Fatalf("unknown network: %d", status)
		}
		if status, _ := download(t, e.url+"/exports/simulations/x/states.csv"); status != http.StatusBadRequest {
			t.Fatalf("bad id: %d", status)
		}
	})
}

// Downloads are compressed in the coding the client prefers, streamed, and
// decode to the identity body; exports still end with their trailer, and
// charts carry a strong ETag answering If-None-Match with 304.
func TestDownloadsCompressed(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
		var run struct{ RunSimulation struct{ ID string } }
		e.query(`mutation { runSimulation(input: {trigger: "Compress me.", engine: FRIEDKIN_JOHNSEN, rounds: 2}) { id } }`, nil).decode(t, &run)
		waitDone(t, e, run.RunSimulation.ID)
		var out struct {
			Simulation struct {
				Exports struct{ StatesCsv, StatesJsonl string }
				Network struct {
					Exports struct{ NetworkJSON, Graphml string }
				}
			}
			GenerateReport struct{ Charts []struct{ URL string } }
		}
		e.query(`query($id: ID!) { simulation(id: $id) { exports { statesCsv statesJsonl } network { exports { networkJson graphml } } } }`,
			map[string]any{"id": run.RunSimulation.ID}).decode(t, &out)
		e.query(`mutation($id: ID!) { generateReport(simulationId: $id) { charts { url } } }`,
			map[string]any{"id": run.RunSimulation.ID}).decode(t, &out)
		exports := []string{out.Simulation.Exports.StatesCsv, out.Simulation.Exports.StatesJsonl,
			out.Simulation.Network.Exports.NetworkJSON, out.Simulation.Network.Exports.Graphml}
		urls := append(append([]string{}, exports...), out.GenerateReport.Charts[0].URL)

		get := func(url, acceptEncoding, ifNoneMatch string) rawResponse {
			req, _ := http.NewRequest(http.MethodGet, e.url+url, nil)
			return sendRaw(t, req, acceptEncoding, ifNoneMatch)
		}
		for i, url := range urls {
			plain := get(url, "identity", "")
			want := plain.body
			if plain.status != http.StatusOK || plain.header.Get("Content-Encoding") != "" || len(want) < 1024 {
				t.Fatalf("%s plain: %d %q, %d bytes", url, plain.status, plain.header.Get("Content-Encoding"), len(want))
			}
			for _, c := range []struct{ accept, coding string }{
				{"gzip", "gzip"}, {"br", "br"}, {"zstd", "zstd"}, {"gzip, deflate, br, zstd", "br"}, {"gzip;q=1, br;q=0.5", "gzip"}, {"br;q=0", ""},
			} {
				resp := get(url, c.accept, "")
				body := resp.body
				if got := resp.header.Get("Content-Encoding"); resp.status != http.StatusOK || got != c.coding {
					t.Fatalf("%s with Accept-Encoding %q: %d, Content-Encoding %q, want %q", url, c.accept, resp.status, got, c.coding)
				}
				if c.coding != "" && len(body) >= len(want) {
					t.Fatalf("%s in %s: %d bytes, not smaller than %d", url, c.coding, len(body), len(want))
				}
				if got := decodeBody(t, c.coding, body); !bytes.Equal(got, want) {
					t.Fatalf("%s in %s decodes to %d bytes that differ from the %d plain ones", url, c.coding, len(got), len(want))
				}
				if !strings.Contains(strings.Join(resp.header.Values("Vary"), ","), "Accept-Encoding") {
					t.Fatalf("%s: no Vary: Accept-Encoding", url)
				}
				if i < len(exports) && resp.trailer.Get("Ethox-Export-Status") != "complete" {
					t.Fatalf("%s in %q: trailer %v", url, c.coding, resp.trailer)
				}
			}
		}
		chart := out.GenerateReport.Charts[0].URL
		if etag := get(chart, "br", "").header.Get("ETag"); etag == "" {
			t.Fatal("chart without ETag")
		} else if again := get(chart, "br", etag); again.status != http.StatusNotModified || len(again.body) != 0 {
			t.Fatalf("chart If-None-Match: %d, %d bytes", again.status, len(again.body))
		}
	})
}
