using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Clip.Module;

/// <summary>The feed-forward block of a CLIP encoder layer (HF <c>CLIPMLP</c>): fc1 -> activation -> fc2, <c>[B, L, D]</c> -> <c>[B, L, D]</c>.</summary>
public sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1, fc2;
    private readonly string hiddenAct;

    public ClipMlp(int hiddenSize, int intermediateSize, string hiddenAct) : base(nameof(ClipMlp))
    {
        this.hiddenAct = hiddenAct;
        fc1 = nn.Linear(hiddenSize, intermediateSize);
        fc2 = nn.Linear(intermediateSize, hiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        // bf16 (ClipModel.SetPrecision): fc1, the activation and fc2 in bf16, back to float32 for the residual stream.
        if (fc1.weight!.dtype != x.dtype)
        {
            using var xin = x.to(fc1.weight.dtype);
            using var output = forward(xin);
            return output.to(x.dtype);
        }
        using var h = fc1.forward(x);
        // Without autograd (no_grad / inference_mode, or frozen weights and input) nothing needs fc1's output
        // again, so the activation overwrites it: no [B, L, 4D] temporaries (see Activations.ApplyInPlace).
        // With autograd, backward needs h, so the activation makes new tensors.
        if (!h.requires_grad) return fc2.forward(Activations.ApplyInPlace(hiddenAct, h));
        using var a = Activations.Apply(hiddenAct, h);
        return fc2.forward(a);
    }
}
