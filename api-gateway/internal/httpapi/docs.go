package httpapi

import (
	_ "embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	swaggerfiles "github.com/swaggo/files/v2"
)

//go:embed openapi.json
var openapiDoc []byte

func (s *Server) openapi(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openapiDoc)
}

// docsIndex replaces the dist's index.html, whose initializer loads the
// petstore example from the internet: ours loads this gateway's document, and
// every asset comes from the binary, so the page works offline.
const docsIndex = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>orderq gateway API</title>
  <link rel="stylesheet" type="text/css" href="./swagger-ui.css">
  <link rel="stylesheet" type="text/css" href="./index.css">
  <link rel="icon" type="image/png" href="./favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="./favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="./swagger-ui-bundle.js" charset="UTF-8"></script>
  <script src="./swagger-ui-standalone-preset.js" charset="UTF-8"></script>
  <script src="./swagger-initializer.js" charset="UTF-8"></script>
</body>
</html>
`

const docsInitializer = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout"
  });
};
`

var docsAssets = http.FileServerFS(swaggerfiles.FS)

// docs serves Swagger UI: /docs redirects to /docs/ so that the page's relative
// asset links resolve under it.
func (s *Server) docs(c *gin.Context) {
	file := strings.TrimPrefix(c.Param("file"), "/")
	switch {
	case c.FullPath() == "/docs":
		c.Redirect(http.StatusMovedPermanently, "/docs/")
	case file == "" || file == "index.html":
		c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(docsIndex))
	case file == "swagger-initializer.js":
		c.Data(http.StatusOK, "text/javascript; charset=utf-8", []byte(docsInitializer))
	default:
		if info, err := fs.Stat(swaggerfiles.FS, file); err != nil || info.IsDir() {
			s.fail(c, newError(http.StatusNotFound, "not_found", "no such documentation file"))
			return
		}
		req := c.Request.Clone(c.Request.Context())
		req.URL.Path = "/" + file
		req.URL.RawPath = ""
		docsAssets.ServeHTTP(c.Writer, req)
	}
}
