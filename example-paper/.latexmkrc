# latexmk configuration for the FlowNet example paper.
#
# Every pdflatex run is preceded by `figbuild sync`, so LaTeX always reads current
# figures -- also on each recompile under `latexmk -pvc`. If sync fails (manifest
# error, API refusal, ...) the `&&` skips pdflatex and latexmk reports the error.
# A sync with nothing to do is instant and spends nothing.
#
# Environment (the Makefile exports both):
#   FIGBUILD        the figbuild command (default: figbuild)
#   FIGBUILD_FLAGS  extra sync options, e.g. FIGBUILD_FLAGS=--placeholder latexmk
#
# Note: -pvc only recompiles when a file LaTeX reads changes (paper.tex,
# sections/*.tex, figures). For edits to figures.yaml or paper.md alone, run
# `figbuild watch` (or `make watch`) beside it.

$pdf_mode = 1;

my $figbuild_sync = ($ENV{FIGBUILD} || 'figbuild') . ' sync';
$figbuild_sync .= " $ENV{FIGBUILD_FLAGS}" if ($ENV{FIGBUILD_FLAGS} // '') ne '';

$pdflatex = "$figbuild_sync && pdflatex %O %S";
