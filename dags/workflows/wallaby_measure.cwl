#!/usr/bin/env cwl-runner
# The WALLABY demo of dags/graphs/wallaby_hires_demo.graph as CWL: measure every dataset (sha256, size, tar member
# count, name), then gather the lines, in input order, into summary.txt.
# Written to the Common Workflow Language v1.2 specification: https://www.commonwl.org/v1.2/ (Workflow.html,
# CommandLineTool.html; ScatterFeatureRequirement, and "\$(" to escape a parameter reference).
# The dataset's path reaches bash as a positional argument ("$1"), never inside the script text: any file name is inert.
cwlVersion: v1.2
$graph:
  - id: measure
    class: CommandLineTool
    doc: One line "sha256  size  members  name" for one dataset, as the DALiuGE demo's measure_visibilities app.
    baseCommand: [bash, -c]
    arguments:
      - position: 0
        valueFrom: >-
          set -eo pipefail; f="$1";
          h=\$(sha256sum < "$f" | cut -d' ' -f1);
          n=\$(stat -L -c %s -- "$f");
          m=\$(tar -tf "$f" 2>/dev/null | wc -l || true);
          printf '%s  %s  %s  %s\n' "$h" "$n" "\${m:-0}" "\$(basename -- "$f")"
      - position: 1
        valueFrom: measure  # $0 of the script
    inputs:
      dataset:
        type: File
        inputBinding:
          position: 2
    stdout: measurement.txt
    outputs:
      measurement:
        type: stdout

  - id: summary
    class: CommandLineTool
    doc: The measurements, concatenated in the order given.
    baseCommand: [cat, --]
    inputs:
      measurements:
        type: File[]
        inputBinding:
          position: 1
    stdout: summary.txt
    outputs:
      summary:
        type: stdout

  - id: main
    class: Workflow
    requirements:
      ScatterFeatureRequirement: {}
    inputs:
      datasets:
        type: File[]
        doc: The staged visibility tarballs.
    outputs:
      summary:
        type: File
        outputSource: gather/summary
    steps:
      measure:
        run: "#measure"
        scatter: dataset
        in:
          dataset: datasets
        out: [measurement]
      gather:  # not `summary`: a step's id and the workflow output's share one namespace (main/summary)
        run: "#summary"
        in:
          measurements: measure/measurement
        out: [summary]
