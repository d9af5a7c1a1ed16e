using Paravirt.Pvport;

return await PvportCommandLine.RunAsync(args, Console.Out, Console.Error);
