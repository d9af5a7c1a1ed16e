using System.Collections.Concurrent;
using System.Reflection;

namespace Paravirt.Control.Messages;

/// <summary>
/// JSON lets a peer put null into any property, including those the C# types declare non-nullable. These checks
/// find such holes (recursively through nested message objects and lists) so that no null reaches code that was
/// promised a value.
/// </summary>
public static class MessageValidation
{
    private static readonly ConcurrentDictionary<Type, (PropertyInfo Property, bool Nullable)[]> Shapes = new();

    /// <summary>The dotted path of the first non-nullable property holding null, or null when there is none.</summary>
    public static string? FindMissingValue(object message, int maxDepth = 8) => Find(message, message.GetType().Name, maxDepth);

    private static string? Find(object value, string path, int depth)
    {
        if (depth < 0)
            return path;
        foreach (var (property, nullable) in ShapeOf(value.GetType()))
        {
            object? v = property.GetValue(value);
            string here = $"{path}.{property.Name}";
            if (v is null)
            {
                if (!nullable)
                    return here;
                continue;
            }
            if (v is string || v.GetType().IsValueType)
                continue;
            if (v is System.Collections.IEnumerable items)
            {
                int i = 0;
                foreach (object? item in items)
                {
                    if (item is null)
                        return $"{here}[{i}]";
                    if (item is not string && !item.GetType().IsValueType && Find(item, $"{here}[{i}]", depth - 1) is { } bad)
                        return bad;
                    i++;
                }
                continue;
            }
            if (Find(v, here, depth - 1) is { } inner)
                return inner;
        }
        return null;
    }

    private static (PropertyInfo, bool)[] ShapeOf(Type type) => Shapes.GetOrAdd(type, t =>
    {
        var context = new NullabilityInfoContext();
        return t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanRead && p.CanWrite && p.GetIndexParameters().Length == 0)
            .Select(p => (p, p.PropertyType.IsValueType
                ? Nullable.GetUnderlyingType(p.PropertyType) is not null
                : context.Create(p).ReadState != NullabilityState.NotNull))
            .ToArray();
    });
}
