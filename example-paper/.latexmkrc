# latexmk configuration for the FlowNet example paper: figures stay current.
#
# Before every pdflatex run, `figbuild sync --best-effort` brings the figures up to
# date. It never stops the build: whatever stops a figure (no key, no network, no
# credits, a manifest error) is one warning line, and the figure keeps its image
# (or gets a placeholder). Without figbuild installed (a co-author, Overleaf) the
# sync is skipped with one line and the committed figures are used.
#
# latexmk rebuilds when a file LaTeX read changes. So that figures.yaml,
# figures.lock and every content source (paper.md too) count, pdflatex opens each
# of them (\openin) before reading paper.tex (the command is an `internal` Perl
# subroutine, latexmk's hook for custom processing): they are recorded in paper.fls
# (-recorder), and `latexmk -pdf` / `latexmk -pvc` rebuild after an edit to any of
# them alone. The list comes from the sync itself (`--deps` prints what `figbuild
# deps` prints) at every run, so a new content source is followed without
# restarting -pvc, and figbuild starts once per pass. docs/build-integration.md has the
# same recipe, run by the tests.
#
# Environment (the Makefile exports both):
#   FIGBUILD        the figbuild command (default: figbuild)
#   FIGBUILD_FLAGS  extra sync options, e.g. FIGBUILD_FLAGS=--placeholder latexmk

$pdf_mode = 1;
$pdflatex = 'internal figbuild_pdflatex %O %S';

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

sub figbuild_pdflatex {
    my @options = @_;
    my $source = pop @options;
    $source =~ s/^"(.*)"$/$1/;
    my @deps = ('figures.yaml', 'figures.lock');
    if (figbuild_found()) {
        # One run per pass: the sync (its warnings on stderr), then the files to record.
        my @listed = grep { $_ ne '' } split /\n/, `$figbuild sync --best-effort --deps $figbuild_flags`;
        @deps = @listed if !$? && @listed;
    } elsif (!$figbuild_said_missing++) {
        print "figbuild: not installed, figures not synced (the committed ones are used)\n";
    }
    # Opening a file is enough for pdflatex -recorder to list it in the .fls.
    my $open = join '', map { "\\openin\\figbuilddep=\"$_\" \\closein\\figbuilddep" } grep { -e } @deps;
    return system 'pdflatex', @options, "\\newread\\figbuilddep$open\\relax\\input{$source}";
}
