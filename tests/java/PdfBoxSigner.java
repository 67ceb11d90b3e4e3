/*
 * A third-party signer for the tests, built on Apache PDFBox 2.0 (Debian's libpdfbox2-java)
 * and Bouncy Castle, the way PDFBox's own examples sign (CreateSignature, CreateVisibleSignature2,
 * SigUtils.setMDPPermission). It fills an EXISTING signature field of a PDF and saves
 * incrementally, as a Java signing service built on those examples would.
 *
 * Usage (single-file source launch, no build step):
 *   java -cp <pdfbox2, fontbox2, commons-logging, bcprov, bcpkix, bcutil jars> PdfBoxSigner.java \
 *        MODE IN.pdf OUT.pdf KEYSTORE.p12 PASSWORD FIELD [MODE IN OUT KEYSTORE PASSWORD FIELD]...
 * Each group of six arguments is one signature; a chain of signatures runs in one JVM.
 * MODE: "visible"   - appearance built like CreateVisibleSignature2 (form XObject, Helvetica);
 *       "invisible" - like CreateSignature: no visual signature, so PDFBox sets the widget's
 *                     /Rect to [0 0 0 0] and writes an empty appearance;
 *       "certify"   - invisible, plus DocMDP P=2 like SigUtils.setMDPPermission, but without
 *                     the setDirect(true) calls: PDFBox then writes /Perms, the /SigRef and
 *                     /TransformParams dictionaries as separate objects.
 */

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Calendar;
import java.util.Enumeration;
import java.util.List;

import org.apache.pdfbox.cos.COSArray;
import org.apache.pdfbox.cos.COSDictionary;
import org.apache.pdfbox.cos.COSName;
import org.apache.pdfbox.io.IOUtils;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.PDPage;
import org.apache.pdfbox.pdmodel.PDPageContentStream;
import org.apache.pdfbox.pdmodel.PDResources;
import org.apache.pdfbox.pdmodel.common.PDRectangle;
import org.apache.pdfbox.pdmodel.common.PDStream;
import org.apache.pdfbox.pdmodel.font.PDType1Font;
import org.apache.pdfbox.pdmodel.graphics.form.PDFormXObject;
import org.apache.pdfbox.pdmodel.interactive.annotation.PDAnnotationWidget;
import org.apache.pdfbox.pdmodel.interactive.annotation.PDAppearanceDictionary;
import org.apache.pdfbox.pdmodel.interactive.annotation.PDAppearanceStream;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.PDSignature;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.SignatureInterface;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.SignatureOptions;
import org.apache.pdfbox.pdmodel.interactive.form.PDAcroForm;
import org.apache.pdfbox.pdmodel.interactive.form.PDSignatureField;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.CMSSignedDataGenerator;
import org.bouncycastle.cms.jcajce.JcaSignerInfoGeneratorBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;

public class PdfBoxSigner implements SignatureInterface {
    private final PrivateKey key;
    private final Certificate[] chain;

    PdfBoxSigner(File keystore, char[] password) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = new FileInputStream(keystore)) {
            store.load(in, password);
        }
        Enumeration<String> aliases = store.aliases();
        String alias = null;
        while (aliases.hasMoreElements()) {
            String candidate = aliases.nextElement();
            if (store.isKeyEntry(candidate)) {
                alias = candidate;
                break;
            }
        }
        if (alias == null) {
            throw new IOException("no key entry in " + keystore);
        }
        key = (PrivateKey) store.getKey(alias, password);
        chain = store.getCertificateChain(alias);
    }

    /** CreateSignatureBase.sign: a detached CMS over the byte ranges PDFBox streams in. */
    @Override
    public byte[] sign(InputStream content) throws IOException {
        try {
            String algorithm = "EC".equals(key.getAlgorithm()) ? "SHA256withECDSA" : "SHA256withRSA";
            X509Certificate cert = (X509Certificate) chain[0];
            ContentSigner signer = new JcaContentSignerBuilder(algorithm).build(key);
            CMSSignedDataGenerator gen = new CMSSignedDataGenerator();
            gen.addSignerInfoGenerator(new JcaSignerInfoGeneratorBuilder(
                    new JcaDigestCalculatorProviderBuilder().build()).build(signer, cert));
            gen.addCertificates(new JcaCertStore(Arrays.asList(chain)));
            CMSSignedData signed = gen.generate(
                    new CMSProcessableByteArray(IOUtils.toByteArray(content)), false);
            return signed.getEncoded();
        } catch (Exception e) {
            throw new IOException(e);
        }
    }

    /** CreateVisibleSignature2.findExistingSignature: the empty field gets a fresh /V. */
    static PDSignatureField emptyField(PDAcroForm form, String name, PDSignature signature) {
        PDSignatureField field = (PDSignatureField) form.getField(name);
        if (field == null) {
            throw new IllegalStateException("no signature field " + name);
        }
        if (field.getSignature() != null) {
            throw new IllegalStateException("the signature field " + name + " is already signed");
        }
        field.getCOSObject().setItem(COSName.V, signature);
        return field;
    }

    /** SigUtils.setMDPPermission without setDirect(true): the dictionaries become objects. */
    static void setMDPPermission(PDDocument doc, PDSignature signature, int permissions) {
        COSDictionary params = new COSDictionary();
        params.setItem(COSName.TYPE, COSName.getPDFName("TransformParams"));
        params.setInt(COSName.P, permissions);
        params.setName(COSName.V, "1.2");
        params.setNeedToBeUpdated(true);
        COSDictionary reference = new COSDictionary();
        reference.setItem(COSName.TYPE, COSName.getPDFName("SigRef"));
        reference.setItem(COSName.getPDFName("TransformMethod"), COSName.DOCMDP);
        reference.setItem(COSName.getPDFName("DigestMethod"), COSName.getPDFName("SHA1"));
        reference.setItem(COSName.getPDFName("TransformParams"), params);
        reference.setNeedToBeUpdated(true);
        COSArray references = new COSArray();
        references.add(reference);
        references.setNeedToBeUpdated(true);
        signature.getCOSObject().setItem(COSName.getPDFName("Reference"), references);
        COSDictionary catalog = doc.getDocumentCatalog().getCOSObject();
        COSDictionary perms = new COSDictionary();
        perms.setItem(COSName.DOCMDP, signature);
        catalog.setItem(COSName.PERMS, perms);
        catalog.setNeedToBeUpdated(true);
        perms.setNeedToBeUpdated(true);
    }

    /** CreateVisibleSignature2.createVisualSignatureTemplate, with the field's own box. */
    static InputStream visualTemplate(PDDocument source, int pageIndex, PDRectangle rect,
            String text) throws IOException {
        try (PDDocument doc = new PDDocument()) {
            PDPage page = new PDPage(source.getPage(pageIndex).getMediaBox());
            doc.addPage(page);
            PDAcroForm form = new PDAcroForm(doc);
            doc.getDocumentCatalog().setAcroForm(form);
            PDSignatureField field = new PDSignatureField(form);
            PDAnnotationWidget widget = field.getWidgets().get(0);
            form.setSignaturesExist(true);
            form.setAppendOnly(true);
            form.getCOSObject().setDirect(true);
            form.getFields().add(field);
            widget.setRectangle(rect);

            PDStream stream = new PDStream(doc);
            PDFormXObject xobject = new PDFormXObject(stream);
            xobject.setResources(new PDResources());
            xobject.setFormType(1);
            xobject.setBBox(new PDRectangle(rect.getWidth(), rect.getHeight()));
            PDAppearanceDictionary appearance = new PDAppearanceDictionary();
            appearance.getCOSObject().setDirect(true);
            PDAppearanceStream normal = new PDAppearanceStream(xobject.getCOSObject());
            appearance.setNormalAppearance(normal);
            widget.setAppearance(appearance);
            try (PDPageContentStream cs = new PDPageContentStream(doc, normal)) {
                cs.setNonStrokingColor(0.9f, 0.9f, 1f);
                cs.addRect(0, 0, rect.getWidth(), rect.getHeight());
                cs.fill();
                cs.setNonStrokingColor(0f, 0f, 0f);
                cs.beginText();
                cs.setFont(PDType1Font.HELVETICA_BOLD, 9);
                cs.newLineAtOffset(4, rect.getHeight() - 14);
                cs.showText(text);
                cs.endText();
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            doc.save(out);
            return new ByteArrayInputStream(out.toByteArray());
        }
    }

    static int pageIndexOf(PDDocument doc, PDAnnotationWidget widget) {
        PDPage page = widget.getPage();
        int index = page == null ? -1 : doc.getPages().indexOf(page);
        return Math.max(index, 0);
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0 || args.length % 6 != 0) {
            System.err.println("usage: (MODE IN OUT KEYSTORE PASSWORD FIELD)...");
            System.exit(2);
        }
        // Several signatures in one run (one JVM start): each one reads the previous output.
        for (int i = 0; i < args.length; i += 6) {
            sign(args[i], new File(args[i + 1]), new File(args[i + 2]), new File(args[i + 3]),
                    args[i + 4].toCharArray(), args[i + 5]);
        }
    }

    static void sign(String mode, File in, File outFile, File keystore, char[] password,
            String fieldName) throws Exception {
        PdfBoxSigner signer = new PdfBoxSigner(keystore, password);
        try (PDDocument doc = PDDocument.load(in);
                OutputStream out = new FileOutputStream(outFile)) {
            PDSignature signature = new PDSignature();
            signature.setFilter(PDSignature.FILTER_ADOBE_PPKLITE);
            signature.setSubFilter(PDSignature.SUBFILTER_ADBE_PKCS7_DETACHED);
            signature.setName(((X509Certificate) signer.chain[0]).getSubjectX500Principal().getName());
            signature.setReason("Signature du contrat");
            signature.setLocation("Bordeaux");
            signature.setSignDate(Calendar.getInstance());
            PDAcroForm form = doc.getDocumentCatalog().getAcroForm();
            PDSignatureField field = emptyField(form, fieldName, signature);
            PDAnnotationWidget widget = field.getWidgets().get(0);
            int pageIndex = pageIndexOf(doc, widget);
            if (mode.equals("certify")) {
                setMDPPermission(doc, signature, 2);
            }
            SignatureOptions options = new SignatureOptions();
            options.setPreferredSignatureSize(SignatureOptions.DEFAULT_SIGNATURE_SIZE * 2);
            // The page that holds the field's widget: PDFBox adds the widget to that page's
            // /Annots unless it is there already.
            options.setPage(pageIndex);
            if (mode.equals("visible")) {
                options.setVisualSignature(visualTemplate(doc, pageIndex, widget.getRectangle(),
                        "Signé par " + fieldName));
            } else if (!mode.equals("invisible") && !mode.equals("certify")) {
                throw new IllegalArgumentException("unknown mode " + mode);
            }
            doc.addSignature(signature, signer, options);
            doc.saveIncremental(out);
            options.close();
        }
    }
}
