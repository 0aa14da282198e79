using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace VidSeek.Tests.Reliability;

/// <summary>
/// VidSeek's tensor code never hands libtorch a temporary TorchSharp <c>Scalar</c> (src/VidSeek/Tensors/Scalars.cs says
/// why: TorchSharp 0.107 does not keep it alive during the native call, and a garbage collection on another thread can
/// free it mid-call). A race cannot be caught by running it, so this reads the code instead: every source file of the
/// three projects is compiled with Roslyn against the built assemblies, and every site that makes such a scalar is listed.
/// </summary>
public class ScalarLifetimeTests
{
    [Fact]
    public void NoTensorCodeMakesAScalarThatCanBeFreedDuringTheCall()
    {
        var sites = new List<string>();
        foreach (var project in new[] { "VidSeek", "VidSeek.Cli", "VidSeek.Web" })
            sites.AddRange(UnsafeSites(Path.Combine(TestPaths.RepoRoot, "src", project)));
        Assert.True(sites.Count == 0,
            "temporary TorchSharp Scalars (use Scalars.Plus/Times/DividedBy, a rooted static Scalar, or a `using var s = x.ToScalar();` local):\n"
            + string.Join("\n", sites));
    }

    /// <summary>The check itself finds each kind of unsafe site, and accepts the safe forms (so a pass above means something).</summary>
    [Fact]
    public void TheCheckFindsEachKindOfTemporaryScalar()
    {
        const string code = """
            using TorchSharp;
            using static TorchSharp.torch;
            static class Probe
            {
                static readonly Scalar Rooted = 2.0.ToScalar();
                static Tensor Unsafe1(Tensor a, Tensor b) => a + b;              // alpha = 1
                static Tensor Unsafe2(Tensor a) => a * 0.5;                      // operator with a number
                static Tensor Unsafe3(Tensor a) => a.clamp_min(1e-12);           // implicit double -> Scalar
                static Tensor Unsafe4(Tensor a, Tensor b) => a.add(b);           // add's own alpha = 1
                static Tensor Unsafe5(Tensor a) => a.mul(3.0.ToScalar());        // ToScalar() not held
                static Tensor Unsafe6(Tensor a) { a += a; return a; }            // compound +
                static Tensor Safe1(Tensor a, Tensor b) => a - b * a / b;        // tensor-tensor -, *, / take no scalar
                static Tensor Safe2(Tensor a) => a.mul(Rooted);
                static Tensor Safe3(Tensor a) { using var s = 3.0.ToScalar(); return a.mul(s); }
            }
            """;
        var (found, tensorCalls) = UnsafeSites([CSharpSyntaxTree.ParseText(code, path: "Probe.cs")], excludeAssembly: null);
        Assert.True(tensorCalls >= 5);
        var lines = found.Select(s => s.Split(':')[1]).ToArray();
        Assert.Equal(new[] { "6", "7", "8", "9", "10", "11" }, lines);
    }

    private static IEnumerable<string> UnsafeSites(string projectDir)
    {
        string name = Path.GetFileName(projectDir);
        var files = Directory.EnumerateFiles(projectDir, "*.cs", SearchOption.AllDirectories)
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
                        && !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .ToList();
        Assert.NotEmpty(files);
        // The SDK's implicit global usings (ImplicitUsings=enable in Directory.Build.props), written out here because obj/
        // may hold another configuration's copy.
        var trees = files.Select(p => CSharpSyntaxTree.ParseText(File.ReadAllText(p), Parse, path: Path.GetRelativePath(TestPaths.RepoRoot, p)))
            .Append(CSharpSyntaxTree.ParseText(GlobalUsings, Parse, path: "GlobalUsings.g.cs"))
            .ToList();
        // The project's own assembly is left out of the references: its sources are what is compiled.
        string own = name switch { "VidSeek" => "VidSeek.Core.dll", "VidSeek.Cli" => "vidseek.dll", _ => name + ".dll" };
        var (sites, tensorCalls) = UnsafeSites(trees, own);
        // The core library calls Tensor methods in hundreds of places; far fewer means the scan did not bind TorchSharp.
        if (name == "VidSeek") Assert.True(tensorCalls > 300, $"the scan resolved only {tensorCalls} Tensor method calls in {projectDir}");
        return sites;
    }

    private static readonly CSharpParseOptions Parse = new(LanguageVersion.Preview);

    private const string GlobalUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    private static (List<string> Sites, int TensorCalls) UnsafeSites(IReadOnlyList<SyntaxTree> trees, string? excludeAssembly)
    {
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var references = tpa.Concat(Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll"))
            .Where(p => !string.Equals(Path.GetFileName(p), excludeAssembly, StringComparison.OrdinalIgnoreCase))
            .GroupBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase).Select(g => g.First())
            .Where(IsManagedAssembly)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
        var compilation = CSharpCompilation.Create("scan", trees, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Enable));
        // The check is only as good as the binding: a compilation that cannot see TorchSharp's types would find nothing,
        // so the tensor calls it resolved are counted too.
        Assert.NotNull(compilation.GetTypeByMetadataName("TorchSharp.Scalar"));
        var sites = new List<string>();
        int tensorCalls = 0;
        foreach (var tree in trees)
        {
            var model = compilation.GetSemanticModel(tree);
            foreach (var node in tree.GetRoot().DescendantNodes().OfType<ExpressionSyntax>())
            {
                // GetOperation gives an argument's value; the implicit conversion around it (number -> Scalar) shares its
                // syntax node and is its parent.
                for (var op = model.GetOperation(node); op is not null && op.Syntax == node; op = op.Parent)
                {
                    if (op is IInvocationOperation call && IsTorch(call.TargetMethod.ContainingType, "Tensor")) tensorCalls++;
                    if (Why(op) is not { } why) continue;
                    int line = tree.GetLineSpan(node.Span).StartLinePosition.Line + 1;
                    sites.Add($"{tree.FilePath}:{line}: {why}: {node.ToString().ReplaceLineEndings(" ")}");
                }
            }
        }
        return (sites.Distinct().ToList(), tensorCalls);
    }

    private static string? Why(IOperation op)
    {
        switch (op)
        {
            case IConversionOperation { OperatorMethod: not null } c when IsTorch(c.Type, "Scalar"):
                return "implicit conversion to Scalar";
            case IBinaryOperation { OperatorMethod: { } m } when IsTorch(m.ContainingType, "Tensor"):
                // Tensor + Tensor calls add(other, alpha: 1); an operator with a number converts it to a Scalar.
                if (m.Name == "op_Addition" || m.Parameters.Any(p => !IsTorch(p.Type, "Tensor")))
                    return $"operator {m.Name}({string.Join(", ", m.Parameters.Select(p => p.Type.Name))})";
                return null;
            case ICompoundAssignmentOperation { OperatorMethod: { } m } when IsTorch(m.ContainingType, "Tensor"):
                return $"compound {m.Name}";
            case IInvocationOperation inv when inv.TargetMethod.Name is "add" or "add_"
                                               && (IsTorch(inv.TargetMethod.ContainingType, "Tensor") || IsTorch(inv.TargetMethod.ContainingType, "torch"))
                                               && inv.TargetMethod.Parameters.All(p => IsTorch(p.Type, "Tensor")):
                return $"{inv.TargetMethod.Name} without alpha";
            case IInvocationOperation { TargetMethod.Name: "ToScalar" } inv when !IsHeld(inv):
                return "ToScalar() not held in a using local or a static field";
            default:
                return null;
        }
    }

    private static bool IsHeld(IInvocationOperation inv)
    {
        var parent = inv.Parent;
        while (parent is IConversionOperation { IsImplicit: true }) parent = parent.Parent;
        return parent switch
        {
            IVariableInitializerOperation { Parent: IVariableDeclaratorOperation { Parent: IVariableDeclarationOperation { Parent: IVariableDeclarationGroupOperation { Parent: IUsingDeclarationOperation } } } } => true,
            IFieldInitializerOperation f => f.InitializedFields.All(x => x.IsStatic && x.IsReadOnly),
            _ => false,
        };
    }

    private static bool IsTorch(ITypeSymbol? type, string name)
    {
        if (type is null || type.Name != name) return false;
        for (var ns = type.ContainingNamespace ?? type.ContainingType?.ContainingNamespace; ns is not null; ns = ns.ContainingNamespace)
            if (ns.Name == "TorchSharp") return true;
        return type.ContainingType?.Name == "torch";
    }

    private static bool IsManagedAssembly(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using var reader = new System.Reflection.PortableExecutable.PEReader(stream);
            return reader.HasMetadata;
        }
        catch (Exception) { return false; }
    }
}
