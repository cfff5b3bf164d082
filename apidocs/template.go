package apidocs

import (
	"html/template"
	"strings"
	"sync"
)

// pageTmpl is the page's template, parsed once.
var pageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Funcs(template.FuncMap{
		"lower": strings.ToLower,
	}).Parse(pageTemplate))
})
