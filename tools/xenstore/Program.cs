using Paravirt.XenStoreCli;

var tool = new XenStoreTool(Console.Out, Console.Error);
return tool.Run(args, () => XsClient.Connect(XenStoreTool.SocketPath()));
