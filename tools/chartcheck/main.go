// Command chartcheck validates Kubernetes manifests rendered by `helm template`, offline.
//
//	chartcheck [-q] FILE...
//
// Each file is one render (a multi-document YAML stream). Every document of a kind that
// client-go knows is decoded strictly (unknown fields and type errors fail) and validated
// against client-go's embedded OpenAPI schema (structured-merge-diff). Custom resources
// (ServiceMonitor, PrometheusRule) are only checked for apiVersion, kind, metadata.name and
// a spec. On top, chartcheck asserts rules the schemas cannot express: workload selectors
// match their pod labels, container ports are named, probes are set and use declared ports,
// containers run as non-root with a read-only root filesystem, no privilege escalation and
// all capabilities dropped, terminationGracePeriodSeconds covers preStop sleep + the ctiws
// drain timeout, and Services, PDBs, NetworkPolicies, HPAs, Ingresses and ServiceMonitors
// point at objects of the same render.
//
// Exit status: 0 when no file has an error, 1 otherwise, 2 on usage or I/O errors.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	quiet := flag.Bool("q", false, "print only errors and the summary")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: chartcheck [-q] FILE...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	c := NewChecker()
	failed := 0
	for _, path := range flag.Args() {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "chartcheck:", err)
			os.Exit(2)
		}
		res, err := c.Check(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "chartcheck: %s: %v\n", path, err)
			os.Exit(2)
		}
		for _, p := range res.Problems {
			if p.Note && *quiet {
				continue
			}
			fmt.Printf("%s: %s\n", path, p)
		}
		status := "ok"
		if res.Errors() > 0 {
			status = "FAILED"
			failed++
		}
		fmt.Printf("chartcheck: %s: %d documents, %d errors: %s\n", path, res.Docs, res.Errors(), status)
	}
	if failed > 0 {
		os.Exit(1)
	}
}
