// FastAPI's own OpenAPI document, drawn by Swagger UI served from this app (no CDN).
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  // validatorUrl null: no badge fetched from validator.swagger.io
  window.ui = window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui",
                                       validatorUrl: null });
});
