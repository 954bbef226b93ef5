// Renders /openapi.yaml. validatorUrl is null so that the page never calls
// the public validator: the docs work offline.
window.ui = SwaggerUIBundle({
  url: "/openapi.yaml",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
});
