# latexmk configuration for the FlowNet example paper: figures stay current.
#
# Before every LaTeX run, whichever engine latexmk drives (pdflatex, xelatex,
# lualatex, latex), one `figbuild sync --best-effort --deps` brings the figures up
# to date and lists what they are made from. It never stops the build: whatever
# stops figures (no key, no network, no credits, a manifest error) is one warning
# line, and each figure keeps its image (or gets a placeholder). Without figbuild
# installed (a co-author) the sync is skipped with one line and the committed
# figures are used. On Overleaf use `latexmkrc` (no dot) instead: see
# docs/build-integration.md.
#
# latexmk rebuilds when a file LaTeX read changes. So that figures.yaml,
# figures.lock and every content source (paper.md too) count, the engine opens each
# of them (\openin) before reading paper.tex: they are recorded in paper.fls
# (-recorder), and `latexmk -pdf` / `latexmk -pvc` rebuild after an edit to any of
# them alone. The list is printed by the same figbuild run at every pass, so a new
# content source is followed without restarting -pvc. docs/build-integration.md has
# the same recipe, run by the tests.
#
# Environment (the Makefile exports both):
#   FIGBUILD        the figbuild command (default: figbuild)
#   FIGBUILD_FLAGS  extra sync options, e.g. FIGBUILD_FLAGS=--placeholder latexmk

$pdf_mode = 1;
# Every engine latexmk drives runs figbuild first: -pdf, -pdfxe/-xelatex,
# -pdflua/-lualatex, -pdfdvi/-dvi (latexmk's `internal` hook, a Perl subroutine).
$pdflatex = 'internal figbuild_engine pdflatex %O %S';
$xelatex = 'internal figbuild_engine xelatex %O %S';
$lualatex = 'internal figbuild_engine lualatex %O %S';
$latex = 'internal figbuild_engine latex %O %S';

my $figbuild = $ENV{FIGBUILD} || 'figbuild';
my $figbuild_flags = $ENV{FIGBUILD_FLAGS} // '';
my $figbuild_said_missing = 0;

sub figbuild_found {
    my ($program) = split ' ', $figbuild;
    return -x $program if $program =~ m{/};
    for my $dir (split /:/, ($ENV{PATH} // '')) {
        return 1 if $dir ne '' && -x "$dir/$program";
    }
    return 0;
}

sub figbuild_engine {
    my ($engine, @options) = @_;
    my $source = pop @options;
    $source =~ s/^"(.*)"$/$1/;
    my @deps = ('figures.yaml', 'figures.lock');
    if (figbuild_found()) {
        # One figbuild per pass: it syncs (its one warning line goes to stderr) and
        # then lists the files the figures are made from (on stdout).
        my @listed = grep { $_ ne '' } split /\n/, `$figbuild sync --best-effort --deps $figbuild_flags`;
        @deps = @listed if !$? && @listed;
    } elsif (!$figbuild_said_missing++) {
        print "figbuild: not installed, figures not synced (the committed ones are used)\n";
    }
    # Opening a file is enough for the engine's -recorder to list it in the .fls.
    my $open = join '', map { "\\openin\\figbuilddep=\"$_\" \\closein\\figbuilddep" } grep { -e } @deps;
    return system $engine, @options, "\\newread\\figbuilddep$open\\relax\\input{$source}";
}
