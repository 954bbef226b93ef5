package api

// StatusByCode exposes the code→status table to TestStatusTable.
var StatusByCode = statusByCode
