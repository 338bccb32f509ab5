package doccheck

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// forbidden are references to documents that live outside the repository
// (research notes the project was started from); what the code relies on
// is written in docs/ instead.
// (The names are split so that this file does not cite them itself.)
var forbidden = []string{
	join("shared/", "reference"),
	join("nethcti-proto", "col", ".", "md"),
	join("anchors", ".", "md"),
	join("libraries", ".", "md \u00a7"),
	join("ami-model", ".", "md \u00a7"),
}

func join(parts ...string) string { return strings.Join(parts, "") }

var (
	// mdRef is a cited Markdown file, optionally with an anchor.
	mdRef = regexp.MustCompile(`([A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md)(#[A-Za-z0-9_.-]+)?`)
	// sectionRef is "<file>.md <section sign>N", "<file>.md, section N" or
	// "<file>.md, section "Title"".
	sectionRef = regexp.MustCompile(`([A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md)\)?,? (?:\x{00A7} ?|section )(?:([0-9]+(?:\.[0-9]+)*)|"([^"]+)")`)
	// bareSection is a reference by section sign and number.
	bareSection = regexp.MustCompile(`\x{00A7} ?([0-9]+(?:\.[0-9]+)*)`)
	// rfc is an RFC section reference ("RFC 6455", section sign, "5.2").
	rfc = regexp.MustCompile(`RFC ?[0-9]+[^\x{00A7}]{0,20}\x{00A7} ?[0-9]`)
	// rfcAtEnd and rfcContinued recognise an RFC reference wrapped over
	// two comment lines.
	rfcAtEnd     = regexp.MustCompile(`RFC ?[0-9]+\s*$`)
	rfcContinued = regexp.MustCompile(`^\s*(//|#|\*)?\s*\x{00A7} ?[0-9]`)
)

// scanned are the files whose text is checked.
func scanned(path string) bool {
	switch filepath.Ext(path) {
	case ".go", ".md", ".mjs", ".js", ".yaml", ".yml", ".json", ".tpl", ".sh", ".txt":
		return true
	}
	switch filepath.Base(path) {
	case "Makefile", "Containerfile":
		return true
	}
	return false
}

// skipped are folders that are not the project's text.
func skipped(name string) bool {
	switch name {
	case ".git", "node_modules", "output", "testdata", "bin":
		return true
	}
	return false
}

// TestCitationsResolve: every cited Markdown file exists (relative to the
// citing file or to the repository root), every anchor and numbered or
// named section cited exists in its document, every bare section-sign number points
// to a numbered heading of the same Markdown document, and nothing cites a
// document outside the repository.
func TestCitationsResolve(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found from %s: %v", root, err)
	}
	docs := newHeadings()
	var problems []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipped(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !scanned(path) {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		probs, err := checkFile(root, rel, docs)
		if err != nil {
			return err
		}
		problems = append(problems, probs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// checkFile returns the citation problems of one file.
func checkFile(root, rel string, docs *headings) ([]string, error) {
	f, err := os.Open(filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	bad := func(line int, format string, a ...any) {
		out = append(out, fmt.Sprintf("%s:%d: %s", rel, line, fmt.Sprintf(format, a...)))
	}
	isMD := strings.HasSuffix(rel, ".md")
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	prev := ""
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		// An RFC reference may wrap: "(RFC 6455" at the end of one comment
		// line, the section sign and number at the start of the next.
		rfcWrapped := rfcAtEnd.MatchString(prev) && rfcContinued.MatchString(line)
		prev = line
		for _, s := range forbidden {
			if strings.Contains(line, s) {
				bad(n, "cites %q, a document outside the repository: write what is needed into docs/ and cite that", s)
			}
		}
		for _, m := range mdRef.FindAllStringSubmatchIndex(line, -1) {
			name, anchor := line[m[2]:m[3]], ""
			if m[4] >= 0 {
				anchor = line[m[4]+1 : m[5]]
			}
			if m[2] >= 4 && strings.HasSuffix(line[:m[2]], "://") || strings.Contains(line[max(0, m[2]-80):m[2]], "http") {
				continue // a URL
			}
			target, ok := resolve(root, rel, name)
			if !ok {
				bad(n, "cites %s, which is not a file of the repository", name)
				continue
			}
			if anchor != "" && !docs.hasAnchor(root, target, anchor) {
				bad(n, "cites %s#%s, but %s has no such heading", name, anchor, target)
			}
		}
		covered := map[int]bool{}
		for _, m := range sectionRef.FindAllStringSubmatchIndex(line, -1) {
			target, ok := resolve(root, rel, line[m[2]:m[3]])
			if !ok {
				continue // reported above
			}
			covered[m[1]] = true
			if m[4] >= 0 {
				if num := line[m[4]:m[5]]; !docs.hasNumber(root, target, num) {
					bad(n, "cites section %s of %s, which has no heading numbered %s", num, target, num)
				}
			} else if title := line[m[6]:m[7]]; !docs.hasTitle(root, target, title) {
				bad(n, "cites section %q of %s, which has no such heading", title, target)
			}
		}
		rfcs := rfc.FindAllStringIndex(line, -1)
		for _, m := range bareSection.FindAllStringSubmatchIndex(line, -1) {
			if coveredBy(covered, m[1]) || inAny(rfcs, m[0]) || rfcWrapped && m[0] == strings.Index(line, "\u00a7") {
				continue
			}
			num := line[m[2]:m[3]]
			if !isMD {
				bad(n, "\u00a7%s without a document: cite \"docs/<file>.md, section %s\" or an RFC", num, num)
				continue
			}
			if !docs.hasNumber(root, rel, num) {
				bad(n, "\u00a7%s, but %s has no heading numbered %s", num, rel, num)
			}
		}
	}
	return out, sc.Err()
}

// coveredBy reports whether a section-sign match ending at end was part of a
// sectionRef match (which ends at the same place).
func coveredBy(covered map[int]bool, end int) bool { return covered[end] }

func inAny(spans [][]int, at int) bool {
	for _, s := range spans {
		if at >= s[0] && at < s[1] {
			return true
		}
	}
	return false
}

// resolve finds a cited Markdown file relative to the citing file, then to
// the repository root; it returns the path relative to the root.
func resolve(root, from, name string) (string, bool) {
	for _, cand := range []string{filepath.Join(filepath.Dir(from), name), filepath.Clean(name)} {
		if st, err := os.Stat(filepath.Join(root, cand)); err == nil && !st.IsDir() {
			return cand, true
		}
	}
	return "", false
}

// headings caches the headings of the Markdown documents cited.
type headings struct {
	byFile map[string][]string
}

func newHeadings() *headings { return &headings{byFile: map[string][]string{}} }

func (h *headings) of(root, rel string) []string {
	if hs, ok := h.byFile[rel]; ok {
		return hs
	}
	var hs []string
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err == nil {
		fence := false
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "```") {
				fence = !fence
			}
			if !fence && strings.HasPrefix(l, "#") {
				hs = append(hs, strings.TrimSpace(strings.TrimLeft(l, "#")))
			}
		}
	}
	h.byFile[rel] = hs
	return hs
}

// hasNumber reports whether a heading starts with the section number num
// ("2", "7.2": "## 2. Sizing", "### 7.2 PBX unreachable").
func (h *headings) hasNumber(root, rel, num string) bool {
	for _, t := range h.of(root, rel) {
		if t == num || strings.HasPrefix(t, num+" ") || strings.HasPrefix(t, num+". ") {
			return true
		}
	}
	return false
}

// hasTitle reports whether a heading is title (case-insensitive).
func (h *headings) hasTitle(root, rel, title string) bool {
	for _, t := range h.of(root, rel) {
		if strings.EqualFold(t, title) {
			return true
		}
	}
	return false
}

// hasAnchor reports whether a heading's GitHub anchor is anchor.
func (h *headings) hasAnchor(root, rel, anchor string) bool {
	for _, t := range h.of(root, rel) {
		if slug(t) == strings.ToLower(anchor) {
			return true
		}
	}
	return false
}

// slug is GitHub's heading anchor: lower case, spaces to '-', punctuation
// other than '-' and '_' removed.
func slug(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 && !strings.ContainsRune("—–’“”…→×·", r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
