package console

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward"
)

// The chart of a key's verifications per hour over the last 7 days, drawn
// on the server as inline SVG: no script, no chart library, and it prints.
// Each hour is a bar, valid verifications at its foot and refused ones
// stacked on them; each bar has a title (a tooltip, and what a screen
// reader reads), and the chart a summary.

// chartHours is how many hours the chart shows: 7 days.
const chartHours = 7 * 24

// Chart geometry, in the SVG's user units.
const (
	chartWidth  = 860
	chartHeight = 220
	plotLeft    = 44
	plotRight   = chartWidth - 8
	plotTop     = 12
	plotBottom  = chartHeight - 28
)

// chart is what the template draws.
type chart struct {
	Available  bool   // the server records verifications
	Error      string // they could not be read
	Bars       []chartBar
	Grid       []gridLine
	Days       []dayLabel
	Valid      int64
	Refused    int64
	Width      int
	Height     int
	PlotLeft   int
	PlotRight  int
	PlotBottom int
	Since      time.Time
	Until      time.Time
}

type chartBar struct {
	X, W                 float64
	ValidY, ValidH       float64
	RefusedY, RefusedH   float64
	Title                string
	HasValid, HasRefused bool
}

type gridLine struct {
	Y     float64
	Label string
}

type dayLabel struct {
	X     float64
	Label string
	Odd   bool // every other day, left out on a narrow screen
}

// weekChart reads key id's verifications over the 7 days up to the end
// of the current hour and lays them out.
func (s *server) weekChart(r *http.Request, sess *session, id keyward.KeyID, now time.Time) *chart {
	until := now.UTC().Truncate(time.Hour).Add(time.Hour)
	since := until.Add(-chartHours * time.Hour)
	c := &chart{Width: chartWidth, Height: chartHeight, PlotLeft: plotLeft, PlotRight: plotRight, PlotBottom: plotBottom, Since: since, Until: until}
	if s.svc.LastUsed == nil { // nothing counts verifications
		return c
	}
	c.Available = true
	usage, err := s.svc.KeyUsage(r.Context(), sess.caller, sess.OrgID, id, keyward.UsageRange{Since: &since, Until: &until})
	switch {
	case keyward.ErrorCode(err) == keyward.ENOTFOUND:
		c.Error = "A deleted key's verifications show again once it is restored."
		return c
	case err != nil:
		s.logger.Warn("console: could not read a key's verifications", "key_id", id.String(), "err", err)
		c.Error = "The verification counts could not be read just now."
		return c
	}
	counts := make([]hourCount, 0, len(usage.Hours))
	for _, h := range usage.Hours {
		counts = append(counts, hourCount{Hour: h.Hour, Valid: h.Counts.Valid, Refused: h.Counts.Total() - h.Counts.Valid})
	}
	layoutChart(c, counts)
	return c
}

// layoutChart fills c's bars, grid and labels from counts (hours outside
// c's range are ignored; hours missing are zero).
func layoutChart(c *chart, counts []hourCount) {
	var hours [chartHours]hourCount
	for _, h := range counts {
		i := int(h.Hour.UTC().Truncate(time.Hour).Sub(c.Since) / time.Hour)
		if i < 0 || i >= chartHours {
			continue
		}
		hours[i].Valid += h.Valid
		hours[i].Refused += h.Refused
	}
	var peak int64
	for _, h := range hours {
		c.Valid += h.Valid
		c.Refused += h.Refused
		peak = max(peak, h.Valid+h.Refused)
	}
	top := niceCeiling(peak)
	height := float64(plotBottom - plotTop)
	step := float64(plotRight-plotLeft) / chartHours
	y := func(v int64) float64 { return float64(plotBottom) - height*float64(v)/float64(top) }
	for i, h := range hours {
		at := c.Since.Add(time.Duration(i) * time.Hour)
		b := chartBar{X: float64(plotLeft) + float64(i)*step + step*0.12, W: step * 0.76}
		b.Title = fmt.Sprintf("%s: %s valid, %s refused", at.Format("Mon 2 Jan 15:00 UTC"), thousands(h.Valid), thousands(h.Refused))
		if h.Valid > 0 {
			b.HasValid = true
			b.ValidY, b.ValidH = y(h.Valid), float64(plotBottom)-y(h.Valid)
		}
		if h.Refused > 0 {
			b.HasRefused = true
			b.RefusedY = y(h.Valid + h.Refused)
			b.RefusedH = y(h.Valid) - b.RefusedY
		}
		if b.HasValid || b.HasRefused {
			c.Bars = append(c.Bars, b)
		}
		if at.Hour() == 0 {
			c.Days = append(c.Days, dayLabel{X: float64(plotLeft) + float64(i)*step, Label: at.Format("Mon 2 Jan"), Odd: len(c.Days)%2 == 1})
		}
	}
	for _, v := range []int64{0, top / 2, top} {
		if v == top/2 && top%2 != 0 {
			continue
		}
		c.Grid = append(c.Grid, gridLine{Y: y(v), Label: thousands(v)})
	}
}

// niceCeiling returns the smallest of 1, 2, 5 × 10ⁿ (at least 4) that is
// not below v, so that the axis reads in round numbers.
func niceCeiling(v int64) int64 {
	if v <= 4 {
		return 4
	}
	for m := int64(1); ; m *= 10 {
		for _, f := range []int64{1, 2, 5} {
			if f*m >= v {
				return f * m
			}
		}
	}
}

// thousands writes n with thin separators between thousands: 12 345.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 || len(s) <= 3 {
		return s
	}
	var out []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	return string(out)
}
