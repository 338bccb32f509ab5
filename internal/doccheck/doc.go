// Package doccheck holds a test that keeps the repository's citations
// inside the repository: code comments, tests, docs and chart files may
// only point at documents that exist here (docs/…, README.md, …), at
// headings and numbered sections those documents have, or at RFCs.
package doccheck
