// Package dashboard reads the Grafana dashboard in docs/grafana: its
// panels, their queries, and the metric names the queries use. The test
// that holds the dashboard to the metrics keyward exports, and the
// renderer of its screenshot (tools/dashboard), read it through here, so
// that both see the panels Grafana would.
package dashboard

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
)

// Dashboard is the part of Grafana's dashboard model that the test and
// the renderer use.
type Dashboard struct {
	Title       string `json:"title"`
	UID         string `json:"uid"`
	Description string `json:"description"`
	Panels      []Panel
	Templating  struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Time struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
}

// Variable is a template variable ($datasource, $job, $instance).
type Variable struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	Type     string `json:"type"`
	Query    any    `json:"query"`
	AllValue string `json:"allValue"`
}

// Panel is a panel, or a row whose panels (when collapsed) it holds.
type Panel struct {
	ID          int         `json:"id"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	GridPos     GridPos     `json:"gridPos"`
	Targets     []Target    `json:"targets"`
	FieldConfig FieldConfig `json:"fieldConfig"`
	Options     struct {
		Legend struct {
			DisplayMode string   `json:"displayMode"`
			Calcs       []string `json:"calcs"`
		} `json:"legend"`
		ReduceOptions struct {
			Calcs []string `json:"calcs"`
		} `json:"reduceOptions"`
	} `json:"options"`
	Collapsed bool    `json:"collapsed"`
	Panels    []Panel `json:"panels"`
}

// GridPos places a panel on Grafana's grid: 24 columns, rows of 30 px.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is one query of a panel.
type Target struct {
	RefID        string `json:"refId"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
}

// FieldConfig holds a panel's unit, range and thresholds.
type FieldConfig struct {
	Defaults struct {
		Unit       string     `json:"unit"`
		Min        *float64   `json:"min"`
		Max        *float64   `json:"max"`
		Decimals   *int       `json:"decimals"`
		Thresholds Thresholds `json:"thresholds"`
		Mappings   []Mapping  `json:"mappings"`
		Custom     struct {
			ThresholdsStyle struct {
				Mode string `json:"mode"`
			} `json:"thresholdsStyle"`
			Stacking struct {
				Mode string `json:"mode"`
			} `json:"stacking"`
			FillOpacity float64 `json:"fillOpacity"`
		} `json:"custom"`
	} `json:"defaults"`
}

// Thresholds are the steps of a panel's colours: each applies from its
// value up to the next one's (the first's value is null: from -Inf).
type Thresholds struct {
	Mode  string `json:"mode"`
	Steps []struct {
		Color string   `json:"color"`
		Value *float64 `json:"value"`
	} `json:"steps"`
}

// Mapping is a value mapping: a value shown as a text, in a colour.
// Only mappings of single values ("value") are read; the options of the
// other types (range, regex, special) have other shapes.
type Mapping struct {
	Type    string          `json:"type"`
	Options json.RawMessage `json:"options"`
}

// MappedValue is what a value mapping shows for its value.
type MappedValue struct {
	Text  string `json:"text"`
	Color string `json:"color"`
}

// Values returns the texts of a "value" mapping by value, and nil for a
// mapping of another type.
func (m Mapping) Values() (map[string]MappedValue, error) {
	if m.Type != "value" {
		return nil, nil
	}
	var vs map[string]MappedValue
	if err := json.Unmarshal(m.Options, &vs); err != nil {
		return nil, fmt.Errorf("value mapping: %w", err)
	}
	return vs, nil
}

// Load reads a dashboard's JSON.
func Load(path string) (*Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read dashboard: %w", err)
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("parse dashboard %s: %w", path, err)
	}
	return &d, nil
}

// All returns every panel in the order an operator reads them, rows
// included, with the panels of collapsed rows after their row.
func (d *Dashboard) All() []Panel {
	var all []Panel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	return all
}

// Query is a PromQL expression of the dashboard, and where it is.
type Query struct {
	Where string // "panel \"Cache hit ratio\"", "variable instance"
	Expr  string
}

// labelValuesRE reads Grafana's label_values(selector, label) and
// label_values(label) of a variable's query.
var labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(?:(.*\S)\s*,\s*)?\w+\s*\)\s*$`)

// Queries returns every PromQL expression of the dashboard: the targets
// of each panel, and the selectors of its query variables (the
// series of label_values(metric{...}, label) are a query too).
func (d *Dashboard) Queries() ([]Query, error) {
	var qs []Query
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, ok := v.Query.(string)
		if m, isMap := v.Query.(map[string]any); isMap {
			q, ok = m["query"].(string)
		}
		if !ok {
			return nil, fmt.Errorf("variable %s: no query", v.Name)
		}
		if m := labelValuesRE.FindStringSubmatch(q); m != nil {
			if m[1] == "" {
				continue // label_values(label): no metric
			}
			q = m[1]
		}
		qs = append(qs, Query{Where: "variable " + v.Name, Expr: q})
	}
	for _, p := range d.All() {
		for _, t := range p.Targets {
			qs = append(qs, Query{Where: fmt.Sprintf("panel %q, query %s", p.Title, t.RefID), Expr: t.Expr})
		}
	}
	return qs, nil
}
