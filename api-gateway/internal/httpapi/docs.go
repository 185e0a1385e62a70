package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

//go:embed openapi.json
var openapiDoc []byte

func (s *Server) openapi(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openapiDoc)
}

func (s *Server) docs(c *gin.Context) {
	c.String(http.StatusNotImplemented, "docs")
}
