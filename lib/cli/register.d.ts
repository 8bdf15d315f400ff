// kernelscope/register is preloaded (node --require kernelscope/register) for its effect: it
// exports nothing.
export {}
