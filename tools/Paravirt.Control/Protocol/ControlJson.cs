using System.Text;
using Newtonsoft.Json;
using Newtonsoft.Json.Converters;

namespace Paravirt.Control.Protocol;

/// <summary>
/// The JSON form of every message. Type names are never read from the wire (no polymorphic binding), depth is
/// bounded, enums travel as names and integers for enums are refused, so a hostile peer can only produce a
/// <see cref="ProtocolException"/>.
/// </summary>
public static class ControlJson
{
    private static readonly JsonSerializerSettings Settings = new()
    {
        TypeNameHandling = TypeNameHandling.None,
        MaxDepth = 16,
        DateParseHandling = DateParseHandling.None,
        FloatParseHandling = FloatParseHandling.Double,
        MissingMemberHandling = MissingMemberHandling.Ignore,
        NullValueHandling = NullValueHandling.Ignore,
        Converters = { new StringEnumConverter { AllowIntegerValues = false } },
    };

    private static readonly JsonSerializer Serializer = JsonSerializer.Create(Settings);

    public static byte[] Serialize<T>(T message) where T : class =>
        Encoding.UTF8.GetBytes(JsonConvert.SerializeObject(message, Settings));

    /// <summary>Decode a message; a payload that is not a JSON object of type T throws <see cref="ProtocolException"/>.</summary>
    public static T Deserialize<T>(ReadOnlySpan<byte> payload) where T : class
    {
        string text;
        try
        {
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(payload);
        }
        catch (DecoderFallbackException)
        {
            throw new ProtocolException($"{typeof(T).Name} is not valid UTF-8");
        }

        try
        {
            using var reader = new JsonTextReader(new StringReader(text)) { MaxDepth = Settings.MaxDepth };
            if (!reader.Read() || reader.TokenType != JsonToken.StartObject)
                throw new ProtocolException($"{typeof(T).Name} must be a JSON object");
            var value = Serializer.Deserialize<T>(reader)
                ?? throw new ProtocolException($"{typeof(T).Name} must be a JSON object");
            if (reader.Read())
                throw new ProtocolException($"trailing data after {typeof(T).Name}");
            return value;
        }
        catch (JsonException e)
        {
            throw new ProtocolException($"bad {typeof(T).Name}: {OneLine(e.Message)}");
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException or InvalidCastException)
        {
            throw new ProtocolException($"bad {typeof(T).Name}: {OneLine(e.Message)}");
        }
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
