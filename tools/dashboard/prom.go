package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// series is one line of a panel: its labels and its points.
type series struct {
	Labels map[string]string
	Points []point
}

type point struct {
	T time.Time
	V float64 // NaN where the query had no value
}

// prometheusAPI queries a Prometheus server's HTTP API.
type prometheusAPI struct {
	base   string
	client *http.Client
}

// queryRange runs expr over [start, end] every step (/api/v1/query_range).
func (p prometheusAPI) queryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]series, error) {
	q := url.Values{
		"query": {expr},
		"start": {strconv.FormatInt(start.Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix(), 10)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	req, err := http.NewRequestWithContext(ctx, "GET", p.base+"/api/v1/query_range?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	return parseMatrix(expr, resp.StatusCode, body)
}

// parseMatrix reads the answer of a range query: a matrix, each value a
// [seconds, "string"] pair.
func parseMatrix(expr string, status int, body []byte) ([]series, error) {
	var r struct {
		Status    string `json:"status"`
		Error     string `json:"error"`
		ErrorType string `json:"errorType"`
		Data      struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %q: %d, not Prometheus's JSON: %w", expr, status, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", expr, r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("query %q: a %s, want a matrix", expr, r.Data.ResultType)
	}
	var out []series
	for _, res := range r.Data.Result {
		s := series{Labels: res.Metric}
		for _, v := range res.Values {
			sec, ok := v[0].(float64)
			str, ok2 := v[1].(string)
			if !ok || !ok2 {
				return nil, fmt.Errorf("query %q: a value %v is not [seconds, \"number\"]", expr, v)
			}
			f, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", expr, err)
			}
			if math.IsInf(f, 0) {
				f = math.NaN()
			}
			whole, frac := math.Modf(sec)
			s.Points = append(s.Points, point{T: time.Unix(int64(whole), int64(frac*1e9)), V: f})
		}
		out = append(out, s)
	}
	return out, nil
}
