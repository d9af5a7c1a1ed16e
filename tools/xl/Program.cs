using Paravirt.Xl;

return await XlCommandLine.RunAsync(args, XlContext.FromProcess());
